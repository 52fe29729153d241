"""Routes of the buyer's pages: catalogue, purchase, sessions and their polled partials."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask import session as cookie_session
from flask_login import current_user, login_required

from vpsshop.conditional import etag_for, not_modified, revalidated
from vpsshop.errors import NotFound, ServiceError
from vpsshop.extensions import db
from vpsshop.models import FINAL_STATUSES, VpsProduct, VpsSession
from vpsshop.models.types import utcnow
from vpsshop.security import LOGIN_ID_KEY
from vpsshop.services import log_proxy, versions, waitlist
from vpsshop.services import products as products_service
from vpsshop.services import sessions as session_service
from vpsshop.services.log_parser import mask_credentials
from vpsshop.services.purchase import purchase
from vpsshop.shop import bp, status_card
from vpsshop.shop.forms import DeleteSessionForm, PurchaseForm, WaitlistForm, new_purchase_key
from vpsshop.wording import coins

NOT_FOUND_MESSAGE = "No such server."
LOG_PANEL_LINES = 400


def _active_product(product_id: uuid.UUID) -> VpsProduct:
    product = db.session.get(VpsProduct, product_id)
    if product is None or not product.is_active:
        abort(404, "No such product.")
    return product


def _owned_session(session_id: uuid.UUID) -> VpsSession:
    # Missing and someone else's ids get the same 404.
    try:
        return session_service.get_owned_session(current_user, session_id)
    except NotFound:
        abort(404, NOT_FOUND_MESSAGE)


def _log_context(session: VpsSession) -> dict[str, Any]:
    view = log_proxy.read_log(session)
    # The password stays hidden until the buyer reveals it in the credentials card. The
    # whole log is masked before its tail is cut, so a cut cannot split a password line
    # from its key.
    text = log_proxy.tail_lines(mask_credentials(view.text), LOG_PANEL_LINES)
    return {"log": view, "log_text": text}


def _no_store(response: Response) -> Response:
    # Credentials and live status must not linger in caches.
    response.headers["Cache-Control"] = "no-store"
    return response


def _page_viewer() -> tuple[str, ...]:
    """Who a page is for, as its ETag names them: what the header shows of the signed-in
    user, this sign-in and the CSRF token its forms carry."""
    if not current_user.is_authenticated:
        return ("anonymous",)
    raw_csrf = str(cookie_session.get(current_app.config["WTF_CSRF_FIELD_NAME"], ""))
    return (
        str(current_user.id),
        current_user.email,
        str(current_user.coins),
        str(current_user.coins_unrecovered),  # the on-hold banner
        str(current_user.is_admin),
        str(cookie_session.get(LOGIN_ID_KEY, "")),
        hashlib.sha256(raw_csrf.encode()).hexdigest(),
    )


@bp.route("/")
def catalogue():
    # A message shown once makes this answer unlike the next: no validator, not stored.
    if "_flashes" in cookie_session:
        return _no_store(Response(_catalogue_html()))
    etag = etag_for("page-catalogue", _page_viewer(), [versions.CATALOGUE])
    if (unchanged := not_modified(etag)) is not None:
        return unchanged
    return revalidated(Response(_catalogue_html()), etag)


def _catalogue_html() -> str:
    items = products_service.catalogue()
    viewer = current_user.id if current_user.is_authenticated else None
    times = waitlist.catalogue_times([product.id for product, _ in items], viewer)
    return render_template(
        "shop/catalogue.html", items=items, times=times, waitlist_form=WaitlistForm()
    )


@bp.route("/buy/<uuid:product_id>", methods=["GET", "POST"])
@login_required
def buy(product_id: uuid.UUID):
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
        available=_can_buy_now(product),
        error=error,
    ), status


def _can_buy_now(product: VpsProduct) -> bool:
    # Free slots serve the people in line first; a buyer in line may take theirs.
    time = waitlist.catalogue_times([product.id], current_user.id)[product.id]
    return time.available or (time.position is not None and time.position <= time.free_slots)


@bp.route("/vps/sessions")
@login_required
def sessions():
    items = session_service.list_sessions(current_user)
    return render_template(
        "shop/sessions.html",
        sessions=items,
        now=utcnow(),
        ending_soon_seconds=current_app.config["ENDING_SOON_MINUTES"] * 60,
    )


@bp.route("/vps/sessions/<uuid:session_id>")
@login_required
def session_detail(session_id: uuid.UUID):
    session = _owned_session(session_id)
    context = status_card.context(session)
    context.update(_log_context(session))
    return _no_store(Response(render_template("shop/session.html", **context)))


@bp.route("/vps/sessions/<uuid:session_id>/status")
@login_required
def session_status(session_id: uuid.UUID):
    """The status card alone, polled by static/js/live.js: 304 while it is unchanged."""
    etag = etag_for("page-status", _page_viewer(), [versions.session_key(session_id)])
    if (unchanged := not_modified(etag)) is not None:
        try:
            session_service.check_owner(current_user, session_id)
        except NotFound:
            abort(404, NOT_FOUND_MESSAGE)
        return unchanged
    return revalidated(Response(status_card.render(_owned_session(session_id))), etag)


@bp.route("/vps/sessions/<uuid:session_id>/log")
@login_required
def session_log(session_id: uuid.UUID):
    """The log panel alone, polled by static/js/live.js (the log is escaped text). Its ETag
    is the panel's own digest: the log lives on the node, not in a versioned row."""
    html = render_template("shop/_session_log.html", **_log_context(_owned_session(session_id)))
    response = Response(html)
    response.add_etag()
    return revalidated(response, None).make_conditional(request)


@bp.route("/vps/sessions/<uuid:session_id>/connection.rdp")
@login_required
def session_rdp(session_id: uuid.UUID):
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


@bp.route("/vps/sessions/<uuid:session_id>/delete", methods=["GET", "POST"])
@login_required
def session_delete(session_id: uuid.UUID):
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
