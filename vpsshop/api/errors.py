"""JSON error answers of the API."""

from __future__ import annotations

from flask import Response, jsonify

from vpsshop.api import bp
from vpsshop.errors import ServiceError
from vpsshop.extensions import db


@bp.errorhandler(ServiceError)
def service_error(error: ServiceError):
    db.session.rollback()
    response = jsonify(error.to_dict())
    response.status_code = error.status
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:  # a 429 says when to come back
        response.headers["Retry-After"] = str(retry_after)
    return response


def error_response(code: str, message: str, status: int) -> Response:
    response = jsonify(error=code, message=message)
    response.status_code = status
    return response
