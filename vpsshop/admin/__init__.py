"""The operators' panel at /admin/ (Flask-Admin)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from vpsshop.extensions import db
from vpsshop.models import (
    AuditEntry,
    CoinPack,
    CoinTransaction,
    MailMessage,
    Payment,
    StripeEvent,
    User,
    Voucher,
    VoucherRedemption,
    VpsProduct,
    VpsSession,
    WaitlistEntry,
    Worker,
)
from vpsshop.security import csp_nonce


def init_admin(app: Flask) -> Admin:
    """Mount the admin views on ``app`` (one ``Admin`` per app, so tests can build many)."""
    from vpsshop.admin.audit import AuditView
    from vpsshop.admin.billing import CoinPackView, PaymentView, StripeEventView
    from vpsshop.admin.dashboard import DashboardView
    from vpsshop.admin.jobs import JobsView
    from vpsshop.admin.ledger import CoinLedgerView
    from vpsshop.admin.mail import MailMessageView
    from vpsshop.admin.products import ProductView
    from vpsshop.admin.sessions import SessionView
    from vpsshop.admin.users import UserView
    from vpsshop.admin.vouchers import RedemptionView, VoucherView
    from vpsshop.admin.waitlist import WaitlistView
    from vpsshop.admin.workers import WorkerView

    # Our own script for the admin pages; Bootstrap and jQuery come from Flask-Admin itself.
    app.register_blueprint(
        Blueprint(
            "vpsshop_admin_assets",
            __name__,
            static_folder=str(Path(__file__).parent / "static"),
            static_url_path="/admin-assets",
        )
    )
    admin = Admin(
        app,
        name="vpsshop admin",
        index_view=DashboardView(name="Dashboard", url="/admin"),
        theme=Bootstrap4Theme(base_template="admin/vpsshop_base.html", fluid=True),
        csp_nonce_generator=csp_nonce,
    )
    admin.add_view(WorkerView(Worker, db, name="Workers", endpoint="workers"))
    admin.add_view(ProductView(VpsProduct, db, name="Products", endpoint="products"))
    admin.add_view(UserView(User, db, name="Users", endpoint="users"))
    admin.add_view(CoinLedgerView(CoinTransaction, db, name="Coin ledger", endpoint="ledger"))
    admin.add_view(VoucherView(Voucher, db, name="Vouchers", endpoint="vouchers"))
    admin.add_view(
        RedemptionView(
            VoucherRedemption, db, name="Voucher redemptions", endpoint="voucher_redemptions"
        )
    )
    admin.add_view(SessionView(VpsSession, db, name="Sessions", endpoint="sessions"))
    admin.add_view(WaitlistView(WaitlistEntry, db, name="Waitlist", endpoint="waitlist"))
    admin.add_view(JobsView(name="Jobs", endpoint="jobs"))
    admin.add_view(CoinPackView(CoinPack, db, name="Coin packs", endpoint="coin_packs"))
    admin.add_view(PaymentView(Payment, db, name="Payments", endpoint="payments"))
    admin.add_view(StripeEventView(StripeEvent, db, name="Stripe events", endpoint="stripe_events"))
    admin.add_view(AuditView(AuditEntry, db, name="Audit", endpoint="audit"))
    admin.add_view(MailMessageView(MailMessage, db, name="Mail", endpoint="mail_messages"))
    return admin
