"""Flask-WTF's and Flask-Login's every-request hooks, doing their work only when there is some.

Both run on every request, the 2-second polls included; each now first asks the one
cheap question that decides whether it has anything to do.
"""

from __future__ import annotations

from flask import Flask, request, session
from flask.wrappers import Response
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect


def install(app: Flask, csrf: CSRFProtect, login_manager: LoginManager) -> None:
    """Replace the two hooks; call after ``csrf.init_app`` and ``login_manager.init_app``."""
    # Flask-WTF's hook looks up the view's exemption before it looks at the method.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False

    @app.before_request
    def check_csrf() -> None:
        if request.method in app.config["WTF_CSRF_METHODS"] and app.config["WTF_CSRF_ENABLED"]:
            csrf.protect(apply_exemptions=True)

    hooks = app.after_request_funcs.setdefault(None, [])
    index = hooks.index(login_manager._update_remember_cookie)

    def update_remember_cookie(response: Response) -> Response:
        # Flask-Login's remember-me cookie changes only when a sign-in or sign-out left a
        # mark in the session, or when it is to be refreshed on every request.
        if "_remember" in session or app.config.get("REMEMBER_COOKIE_REFRESH_EACH_REQUEST"):
            return login_manager._update_remember_cookie(response)
        return response

    hooks[index] = update_remember_cookie
