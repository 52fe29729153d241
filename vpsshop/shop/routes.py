"""Routes of the buyer's pages: catalogue, purchase, sessions and their polled partials."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask import session as cookie_session
from flask_login import AnonymousUserMixin, current_user, login_required
from markupsafe import Markup

from vpsshop import fragments
from vpsshop.csrf_tokens import csrf_token
from vpsshop.errors import NotFound, ServiceError
from vpsshop.extensions import db
from vpsshop.models import FINAL_STATUSES, VpsProduct, VpsSession
from vpsshop.services import log_proxy, polled_reads, session_views, workers
from vpsshop.services import sessions as session_service
from vpsshop.services.purchase import purchase
from vpsshop.services.read_cache import Snapshot
from vpsshop.services.session_views import SessionView
from vpsshop.shop import bp, status_card
from vpsshop.shop.forms import DeleteSessionForm, PurchaseForm, new_purchase_key
from vpsshop.wording import coins

NOT_FOUND_MESSAGE = "No such server."
# Where a cached catalogue page has the session's CSRF token.
_CSRF_TOKEN = fragments.placeholder("csrf")
LOG_PANEL_LINES = 400
# Password lines of a node's log (worker-api.md keys), masked in the page's log panel so
# that the password stays hidden until the buyer reveals it in the credentials card.
_PASSWORD_LINE = re.compile(r"(?im)^(.*?\b(?:rdp\s+)?pass(?:word)?\s*[:=]\s*)\S.*$")
MASKED = "•••••••• (hidden; reveal it under Connection)"


def _parse_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        abort(404, NOT_FOUND_MESSAGE)


def _active_product(raw_id: str) -> VpsProduct:
    product = db.session.get(VpsProduct, _parse_id(raw_id))
    if product is None or not product.is_active:
        abort(404, "No such product.")
    return product


def _owned_session(raw_id: str) -> VpsSession:
    # Missing, malformed and someone else's ids all get the same 404.
    try:
        return session_service.get_owned_session(current_user, _parse_id(raw_id))
    except NotFound:
        abort(404, NOT_FOUND_MESSAGE)


def mask_passwords(text: str) -> str:
    """``Password: x`` -> ``Password: ••••``, for every spelling the node may use."""
    return _PASSWORD_LINE.sub(lambda m: m.group(1) + MASKED, text)


def _log_context(session: VpsSession) -> dict[str, Any]:
    view = log_proxy.read_log(session)
    text = mask_passwords(log_proxy.tail_lines(view.text, LOG_PANEL_LINES))
    return {"log": view, "log_text": text}


def _no_store(response: Response) -> Response:
    # Credentials and live status must not linger in caches.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/")
def catalogue():
    items = tuple(polled_reads.catalogue_page())
    viewer = polled_reads.header_viewer()
    if "_flashes" in cookie_session:  # a message shown once: this page is unlike the next
        return _catalogue_page(items, viewer, request.script_root, csrf_token=csrf_token)
    # The page is the same for everyone who sees the same catalogue and header; only the
    # session's CSRF token (in the header's sign-out form) is filled in per answer.
    return fragments.fill(fragments.render(_catalogue_page, items, viewer), _CSRF_TOKEN, csrf_token)


def _catalogue_page(
    items: polled_reads.Catalogue,
    viewer: polled_reads.CachedViewer | None,
    _script_root: str,
    csrf_token: Callable[[], str] = lambda: _CSRF_TOKEN,
) -> str:
    products = Markup(fragments.render(_products, items, viewer is not None))
    return render_template(
        "shop/catalogue.html",
        items=items,
        products=products,
        viewer=viewer or AnonymousUserMixin(),
        csrf_token=csrf_token,
    )


def _products(items: polled_reads.Catalogue, signed_in: bool, _script_root: str) -> str:
    # The same for every visitor signed in (or not): rendered once per catalogue change.
    return render_template("shop/_products.html", items=items, signed_in=signed_in)


@bp.route("/buy/<product_id>", methods=["GET", "POST"])
@login_required
def buy(product_id: str):
    product = _active_product(product_id)
    form = PurchaseForm()
    status = 200
    error = None
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                session = purchase(current_user, product.id, "form:" + form.purchase_key.data)
            except ServiceError as service_error:
                db.session.rollback()
                error, status = service_error, service_error.status
            else:
                flash(
                    f"Paid {coins(session.price_coins)}. Your server is being created.", "success"
                )
                return redirect(url_for("shop.session_detail", session_id=session.id))
        else:
            status = 400
            error = ServiceError("The form was incomplete. Nothing was charged; try again.")
    # A new key per rendered page: only resubmitting this very page repeats a purchase.
    form.purchase_key.data = new_purchase_key()
    balance = current_user.coins
    return render_template(
        "shop/confirm.html",
        form=form,
        product=product,
        balance=balance,
        after=balance - product.price_coins,
        available=workers.product_available(product),
        error=error,
    ), status


@bp.route("/vps/sessions")
@login_required
def sessions():
    items = session_service.list_sessions(current_user)
    return render_template("shop/sessions.html", sessions=items)


@bp.route("/vps/sessions/<session_id>")
@login_required
def session_detail(session_id: str):
    session = _owned_session(session_id)
    context = status_card.context(session_views.from_session(session))
    context.update(_log_context(session))
    return _no_store(Response(render_template("shop/session.html", **context)))


@bp.route("/vps/sessions/<session_id>/status")
def session_status(session_id: str):
    """The status card alone, polled by static/js/live.js: from the read cache when it
    proves the signed-in user owns the session, else from the database."""
    snapshot, view = polled_reads.session_for_login_cached(session_id)
    if view is None:
        return _session_status_from_database(session_id, snapshot)
    return _status_card(view)


@login_required
def _session_status_from_database(session_id: str, snapshot: Snapshot | None) -> Response:
    session_uuid = _parse_id(session_id)
    polled_reads.remember_login(snapshot)
    try:
        view = polled_reads.owned_session_view(current_user, session_uuid, snapshot)
    except NotFound:
        abort(404, NOT_FOUND_MESSAGE)
    return _status_card(view)


def _status_card(view: SessionView) -> Response:
    return _no_store(Response(status_card.render(view)))


@bp.route("/vps/sessions/<session_id>/log")
@login_required
def session_log(session_id: str):
    """The log panel alone, polled by static/js/live.js (the log is escaped text)."""
    html = render_template("shop/_session_log.html", **_log_context(_owned_session(session_id)))
    return _no_store(Response(html))


@bp.route("/vps/sessions/<session_id>/connection.rdp")
@login_required
def session_rdp(session_id: str):
    """A Remote Desktop file with the address and user name; never the password."""
    session = _owned_session(session_id)
    details = session_service.credentials(session)
    if details is None or session.product.provision_action not in status_card.RDP_ACTIONS:
        abort(404, "This server has no Remote Desktop connection (yet).")

    def clean(value: object) -> str:
        # One line per setting: a value must not be able to add lines of its own.
        return "".join(ch for ch in str(value) if ch.isprintable())

    body = (
        f"full address:s:{clean(details.host)}:{int(details.port)}\r\n"
        f"username:s:{clean(details.username)}\r\n"
        "prompt for credentials:i:1\r\n"
        "administrative session:i:1\r\n"
    )
    response = Response(body, mimetype="application/x-rdp")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="vpsshop-{str(session.id)[:8]}.rdp"'
    )
    return _no_store(response)


@bp.route("/vps/sessions/<session_id>/delete", methods=["GET", "POST"])
@login_required
def session_delete(session_id: str):
    session = _owned_session(session_id)
    form = DeleteSessionForm()
    if request.method == "POST" and form.validate_on_submit():
        was_final = session.status in FINAL_STATUSES
        try:
            session = session_service.request_delete(current_user, session.id)
        except NotFound:
            abort(404, NOT_FOUND_MESSAGE)
        except ServiceError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            if was_final:
                flash("This server had already ended.", "info")
            else:
                flash("Deleting the server. This takes a few seconds.", "success")
        return redirect(url_for("shop.session_detail", session_id=session_id))
    status = 400 if request.method == "POST" else 200
    return render_template("shop/delete.html", session=session, form=form), status
