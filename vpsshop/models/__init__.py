"""Database models, one module per domain."""

from vpsshop.models.account import ActivityEvent, RecoveryCode
from vpsshop.models.audit import AuditEntry
from vpsshop.models.billing import CoinPack, Payment, PaymentStatus, StripeEvent
from vpsshop.models.ledger import CoinTransaction, TransactionKind
from vpsshop.models.mail import MailMessage, MailState, PasswordResetToken
from vpsshop.models.product import VpsProduct, vps_product_workers
from vpsshop.models.session import ACTIVE_STATUSES, FINAL_STATUSES, SessionStatus, VpsSession
from vpsshop.models.session_time import SessionExtension, WaitlistEntry, WaitlistStatus
from vpsshop.models.stats import DashboardDay
from vpsshop.models.user import ApiToken, User
from vpsshop.models.voucher import Voucher, VoucherRedemption
from vpsshop.models.worker import Worker, WorkerStatus

__all__ = [
    "ACTIVE_STATUSES",
    "ActivityEvent",
    "ApiToken",
    "AuditEntry",
    "CoinPack",
    "CoinTransaction",
    "DashboardDay",
    "FINAL_STATUSES",
    "Payment",
    "PaymentStatus",
    "RecoveryCode",
    "SessionExtension",
    "MailMessage",
    "MailState",
    "PasswordResetToken",
    "SessionStatus",
    "StripeEvent",
    "TransactionKind",
    "User",
    "VpsProduct",
    "VpsSession",
    "Voucher",
    "VoucherRedemption",
    "WaitlistEntry",
    "WaitlistStatus",
    "Worker",
    "WorkerStatus",
    "vps_product_workers",
]
