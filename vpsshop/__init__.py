"""vpsshop: a shop selling short-lived virtual servers for coins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from vpsshop import wording
from vpsshop.config import load_config
from vpsshop.extensions import csrf, db, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app; ``config`` overrides what the environment says."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder="static",
        instance_path=str(ROOT / "instance"),
    )
    app.config.update(load_config(config))
    wording.install(app)
    if app.config["TRUST_PROXY_HOPS"]:
        hops = app.config["TRUST_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    from vpsshop.input_checks import register_input_checks

    register_input_checks(app)
    from vpsshop.security import register_security

    register_security(app)
    return app


def register_extensions(app: Flask) -> None:
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    db.init_app(app)
    with app.app_context():
        from vpsshop.db_pool import install_idle_ping

        install_idle_ping(db.engine, app.config["DATABASE_PING_AFTER_IDLE_SECONDS"])
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    from vpsshop.queue import init_redis

    init_redis(app)

    from vpsshop.limits import init_limits

    init_limits(app)

    from vpsshop import models  # noqa: F401  (tables must be known to Alembic)
    from vpsshop.login import register_login_loaders
    from vpsshop.services import notices, slot_events, versions

    versions.install()  # every commit moves the versions of what it changed
    slot_events.install()  # a commit that frees a slot serves the waitlist
    notices.install()  # mails recorded in a transaction are enqueued after its commit
    register_login_loaders(login_manager)


def register_blueprints(app: Flask) -> None:
    from vpsshop.accounts import bp as accounts_bp
    from vpsshop.admin import init_admin
    from vpsshop.api import bp as api_bp
    from vpsshop.api.docs import docs_bp
    from vpsshop.auth import bp as auth_bp
    from vpsshop.billing import bp as billing_bp
    from vpsshop.coins import bp as coins_bp
    from vpsshop.mail import bp as mail_bp
    from vpsshop.ops import bp as ops_bp
    from vpsshop.shop import bp as shop_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(shop_bp)
    app.register_blueprint(coins_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(docs_bp)
    app.register_blueprint(ops_bp)
    app.register_blueprint(billing_bp)
    app.register_blueprint(mail_bp)
    csrf.exempt(api_bp)  # the API authenticates with Bearer tokens, not cookies
    init_admin(app)

    from vpsshop.limits import apply_limits

    apply_limits(app)  # after the blueprints: it wraps their view functions


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        if _wants_json():
            return jsonify(error="csrf_failed", message=error.description), 400
        return render_template("errors/error.html", code=400, message=error.description), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if _wants_json():
            code = (error.name or "error").lower().replace(" ", "_")
            response = jsonify(error=code, message=error.description)
            response.status_code = error.code or 500
            for key in ("Retry-After", "WWW-Authenticate"):
                if error.get_response().headers.get(key):
                    response.headers[key] = error.get_response().headers[key]
            return response
        return render_template(
            "errors/error.html", code=error.code, message=error.description
        ), error.code

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        app.logger.exception("unhandled error path=%s", request.path)
        db.session.rollback()
        message = "Something went wrong on our side. Nothing was charged twice; try again."
        if _wants_json():
            return jsonify(error="internal_error", message=message), 500
        return render_template("errors/error.html", code=500, message=message), 500


def register_commands(app: Flask) -> None:
    from vpsshop.cli import register_cli

    register_cli(app)
