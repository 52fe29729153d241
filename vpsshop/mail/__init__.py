"""Mail pages: forgotten password, reset, address confirmation, notification settings,
unsubscribe."""

from flask import Blueprint

bp = Blueprint("mail", __name__)

from vpsshop.mail import routes  # noqa: E402,F401
