"""The signed-in user's account pages: two-factor sign-in, API tokens, activity."""

from flask import Blueprint

bp = Blueprint("accounts", __name__)


@bp.app_template_filter("activity_label")
def activity_label(kind: str) -> str:
    from vpsshop.services.activity import label

    return label(kind)


from vpsshop.accounts import routes  # noqa: E402,F401
