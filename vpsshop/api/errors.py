"""JSON error answers of the API."""

from __future__ import annotations

from flask import Response, jsonify

from vpsshop.api import bp
from vpsshop.errors import ServiceError
from vpsshop.extensions import db


@bp.errorhandler(ServiceError)
def service_error(error: ServiceError):
    db.session.rollback()
    return jsonify(error.to_dict()), error.status


def error_response(code: str, message: str, status: int) -> Response:
    response = jsonify(error=code, message=message)
    response.status_code = status
    return response
