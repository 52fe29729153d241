"""The CSRF token pages embed: Flask-WTF's, signed once per session token per process.

Flask-WTF signs the session's raw token anew for every page; with no time limit on
tokens (``WTF_CSRF_TIME_LIMIT = None``) every signature of the same raw token is as
valid as the next, so a process signs each raw token once and reuses it.
"""

from __future__ import annotations

from flask import Flask, current_app, g, session
from flask_wtf.csrf import generate_csrf

EXTENSION = "vpsshop.csrf_tokens"
# Raw tokens (one per browser session) remembered per process before starting over.
SIGNED_PER_PROCESS = 4096


def csrf_token() -> str:
    """The signed CSRF token of this request's session, as ``generate_csrf`` makes it."""
    config = current_app.config
    field = config["WTF_CSRF_FIELD_NAME"]
    raw = session.get(field)
    if field in g or not isinstance(raw, str) or config["WTF_CSRF_TIME_LIMIT"] is not None:
        return generate_csrf()
    secret = config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key
    cached = current_app.extensions.get(EXTENSION)
    if cached is None or cached[0] != secret:
        cached = (secret, {})
        current_app.extensions[EXTENSION] = cached
    signed_tokens = cached[1]
    token = signed_tokens.get(raw)
    if token is None:
        token = generate_csrf()
        if len(signed_tokens) >= SIGNED_PER_PROCESS:
            signed_tokens.clear()
        signed_tokens[raw] = token
    else:
        setattr(g, field, token)  # what generate_csrf leaves for the rest of the request
    return token


def install(app: Flask) -> None:
    """Templates' ``csrf_token()`` becomes this one; call after ``csrf.init_app``."""
    app.jinja_env.globals["csrf_token"] = csrf_token
    # Flask-WTF also hands its own functions to every render, over the globals; they are
    # globals already (its csrf_meta_tag stays one).
    processors = app.template_context_processors[None]
    processors[:] = [p for p in processors if getattr(p, "__module__", "") != "flask_wtf.csrf"]
