"""Routes of the buyer's pages."""

from __future__ import annotations

from flask import render_template
from sqlalchemy import select

from vpsshop.extensions import db
from vpsshop.models import VpsProduct
from vpsshop.shop import bp


@bp.route("/")
def catalogue():
    products = db.session.execute(
        select(VpsProduct).where(VpsProduct.is_active.is_(True)).order_by(VpsProduct.price_coins)
    ).scalars()
    return render_template("shop/catalogue.html", products=list(products))
