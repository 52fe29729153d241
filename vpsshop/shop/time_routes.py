"""Routes of a session's time on the buyer's pages: extend a session, join or leave a waitlist."""

from __future__ import annotations

import uuid

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from vpsshop.errors import NotFound, ServiceError
from vpsshop.extensions import db
from vpsshop.services import extension, waitlist
from vpsshop.services import sessions as session_service
from vpsshop.shop import bp
from vpsshop.shop.forms import ExtendSessionForm, WaitlistForm, new_purchase_key
from vpsshop.wording import coins, human_duration, utc_text

NOT_FOUND_MESSAGE = "No such server."


@bp.route("/vps/sessions/<uuid:session_id>/extend", methods=["GET", "POST"])
@login_required
def session_extend(session_id: uuid.UUID):
    """The confirmation page of an extension, and its CSRF-protected POST."""
    try:
        session = session_service.get_owned_session(current_user, session_id)
    except NotFound:
        abort(404, NOT_FOUND_MESSAGE)
    form = ExtendSessionForm()
    status, error = 200, None
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                session = extension.extend(current_user, session.id, "form:" + form.extend_key.data)
            except NotFound:
                abort(404, NOT_FOUND_MESSAGE)
            except ServiceError as service_error:
                db.session.rollback()
                error, status = service_error, service_error.status
                session = session_service.get_owned_session(current_user, session_id)
            else:
                minutes = session.product.extend_minutes or 0
                flash(
                    f"Extended by {human_duration(minutes * 60)} for "
                    f"{coins(session.product.extend_price_coins or 0)}. "
                    f"The server now ends at {utc_text(session.expires_at, 'time')}.",
                    "success",
                )
                return redirect(url_for("shop.session_detail", session_id=session.id))
        else:
            status = 400
            error = ServiceError("The form was incomplete. Nothing was charged; try again.")
    form.extend_key.data = new_purchase_key()
    terms = extension.offer(session, session.product)
    balance = current_user.coins
    return render_template(
        "shop/extend.html",
        form=form,
        session=session,
        terms=terms,
        balance=balance,
        after=balance - (terms.price_coins if terms else 0),
        error=error,
    ), status


def _place_text(position: int | None) -> str:
    return f"You are #{position} in line." if position else "You are in line."


@bp.route("/waitlist/<uuid:product_id>/join", methods=["POST"])
@login_required
def waitlist_join(product_id: uuid.UUID):
    form = WaitlistForm()
    if not form.validate_on_submit():
        abort(400, "The form was incomplete; try again.")
    try:
        entry, created = waitlist.join(current_user, product_id)
    except NotFound:
        abort(404, "No such product.")
    except ServiceError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        place = _place_text(waitlist.position(entry))
        if created:
            flash(
                f"{place} When a slot frees, the server is bought for you if you have "
                f"{coins(entry.product.price_coins)}.",
                "success",
            )
        else:
            flash(f"You were already waiting. {place}", "info")
    return redirect(url_for("shop.catalogue"))


@bp.route("/waitlist/<uuid:entry_id>/leave", methods=["POST"])
@login_required
def waitlist_leave(entry_id: uuid.UUID):
    form = WaitlistForm()
    if not form.validate_on_submit():
        abort(400, "The form was incomplete; try again.")
    try:
        waitlist.leave(current_user, entry_id)
    except NotFound:
        abort(404, "No such waitlist entry.")
    except ServiceError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        flash("You left the waitlist.", "success")
    return redirect(url_for("shop.catalogue"))
