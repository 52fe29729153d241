"""Service errors that carry a code, a human message and an HTTP status."""

from __future__ import annotations


class ServiceError(Exception):
    """A refusal the caller should show as is: same code in the API and in flashes."""

    code = "bad_request"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_dict(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message}


class ValidationError(ServiceError):
    code = "invalid"
    status = 400


class Unauthorized(ServiceError):
    code = "unauthorized"
    status = 401


class Forbidden(ServiceError):
    code = "forbidden"
    status = 403


class NotFound(ServiceError):
    code = "not_found"
    status = 404


class Conflict(ServiceError):
    code = "conflict"
    status = 409


class InsufficientCoins(ServiceError):
    code = "insufficient_coins"
    status = 402


class NoCapacity(ServiceError):
    code = "no_capacity"
    status = 409


class ServiceUnavailable(ServiceError):
    code = "service_unavailable"
    status = 503
