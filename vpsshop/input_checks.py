"""Refuses a request whose query string holds text no handler can use: a NUL anywhere, or a
control character in a return address."""

from __future__ import annotations

from flask import Flask, abort, jsonify, request

from vpsshop.services.text import is_storable

MESSAGE = "The query string contains a NUL or another character that is not valid text."
RETURN_MESSAGE = "The return address in the query string contains a control character."
# Parameters that name the page to go back to: Flask-Admin's ``url`` (its forms and
# details pages) and the sign-in's ``next``. Each ends up in a Location header, where a
# line break is refused by Werkzeug (a 500 from inside Flask-Admin's redirect).
RETURN_ADDRESS_KEYS = ("url", "next")
_CONTROL = frozenset(map(chr, [*range(0x20), 0x7F]))


def _refuse(message: str):
    if request.path.startswith("/api/"):
        return jsonify(error="invalid_query", message=message), 400
    abort(400, message)


def refuse_unusable_query():
    """400 for a NUL (or a lone surrogate) in any query parameter's name or value, and
    for a control character in a return address (RETURN_ADDRESS_KEYS).

    PostgreSQL cannot compare text with a NUL, so every search and filter that reaches a
    query (the admin panel's search and column filters, ``/api/v1/admin/users?email=``)
    would fail with a 500; refused here once, for every route, Flask-Admin's included.
    """
    if not request.query_string:
        return None
    for key, values in request.args.lists():
        if not all(is_storable(text) for text in (key, *values)):
            return _refuse(MESSAGE)
        if key in RETURN_ADDRESS_KEYS and any(_CONTROL.intersection(text) for text in values):
            return _refuse(RETURN_MESSAGE)
    return None


def register_input_checks(app: Flask) -> None:
    """Run the checks before every request."""
    app.before_request(refuse_unusable_query)
