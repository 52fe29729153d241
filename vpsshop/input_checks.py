"""Refuses a request whose query string holds text no handler can use (a NUL)."""

from __future__ import annotations

from flask import Flask, abort, jsonify, request

from vpsshop.services.text import is_storable

MESSAGE = "The query string contains a NUL or another character that is not valid text."


def refuse_unusable_query():
    """400 for a NUL (or a lone surrogate) in any query parameter's name or value.

    PostgreSQL cannot compare text with a NUL, so every search and filter that reaches a
    query (the admin panel's search and column filters, ``/api/v1/admin/users?email=``)
    would fail with a 500; refused here once, for every route, Flask-Admin's included.
    """
    if not request.query_string:
        return None
    for key, values in request.args.lists():
        if not all(is_storable(text) for text in (key, *values)):
            if request.path.startswith("/api/"):
                return jsonify(error="invalid_query", message=MESSAGE), 400
            abort(400, MESSAGE)
    return None


def register_input_checks(app: Flask) -> None:
    """Run the checks before every request."""
    app.before_request(refuse_unusable_query)
