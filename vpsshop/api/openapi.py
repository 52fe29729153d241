"""The API's OpenAPI 3.1 document, built by spectree from the routes' pydantic schemas.

``documented(...)`` puts a route in the document (README "OpenAPI"); ``body(Model)``
checks its JSON body with the same model (refusals keep DESIGN.md's codes, see
``_refusal``). Responses are not validated again at run time (every polled answer
would pay for it): the suite's schemathesis run checks them against the document.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError as PydanticError
from spectree import Response, SecurityScheme, SecuritySchemeData, SpecTree

from vpsshop.api.helpers import json_body
from vpsshop.api.schemas import UNKNOWN_FIELD, ErrorBody, RequestModel
from vpsshop.errors import ValidationError

BEARER = "bearer"
PUBLIC: dict = {}  # an operation that needs no token
# Every answer may be one of these (bad query strings, no token, unknown ids, rate limits).
COMMON_ERRORS = (400, 401, 404, 429)

SPEC = SpecTree(
    "flask",
    title="vpsshop API",
    version="1",
    description="Buy and manage short-lived servers with coins; errors are "
    '`{"error": "<code>", "message": "<text>"}` (DESIGN.md "HTTP interface").',
    mode="strict",  # only routes declared with documented(...)
    naming_strategy=lambda model: model.__name__,  # schema names unique in schemas.py
    nested_naming_strategy=lambda _parent, child: child,
    annotations=False,
    security_schemes=[
        SecurityScheme(
            name=BEARER,
            data=SecuritySchemeData(type="http", scheme="bearer", description="An API token."),
        )
    ],
    security={BEARER: []},
)


def responses(ok: Mapping[int, type | None], errors: tuple[int, ...] = ()) -> Response:
    """The success answers (a model, or None for a body not in JSON) and the errors."""
    codes: dict[str, Any] = {f"HTTP_{status}": model for status, model in ok.items()}
    for status in sorted({*COMMON_ERRORS, *errors}):
        codes[f"HTTP_{status}"] = ErrorBody
    return Response(**codes)


def _refusal(model: type[RequestModel], error: PydanticError) -> ValidationError:
    problems = error.errors()
    unknown = sorted(str(p["loc"][0]) for p in problems if p["type"] == "extra_forbidden")
    if unknown:
        return ValidationError(f"Unknown field: {unknown[0]}.", code=UNKNOWN_FIELD)
    field = str(problems[0]["loc"][0]) if problems[0]["loc"] else ""
    code, message = model.error_codes.get(field, ("invalid", f"{field} is not valid."))
    return ValidationError(message, code=code)


def documented(
    *,
    resp: Response,
    json: type[RequestModel] | None = None,
    query: type | None = None,
    tags: tuple[str, ...] = (),
    security: dict | None = None,
) -> Callable:
    """Put a route's body, query and answers in the document.

    Place it under the route's ``token_required``/``admin_required``. The view reads its
    body with ``body(Model)`` when it needs it, after its own lookups, so a request
    without a token is a 401 and an unknown id a 404 before any body is looked at.
    """

    # spectree's wrapper would read every answer into memory (a streamed log or event
    # stream included) and re-validate it. It is built only for the document: spectree
    # finds a route's declaration along the ``__wrapped__`` chain, and the view the
    # route calls is the original one.
    def decorate(view: Callable) -> Callable:
        declared = SPEC.validate(
            json=json,
            query=query,
            resp=resp,
            tags=tags,
            security=security,
            skip_validation=True,
            validation_error_status=400,
        )(view)

        @functools.wraps(view)
        def direct(*args: Any, **kwargs: Any) -> Any:
            return view(*args, **kwargs)

        direct.__wrapped__ = declared  # type: ignore[attr-defined]
        return direct

    return decorate


def body(model: type[RequestModel]) -> Any:
    """The request's JSON object checked by ``model``, or the 400 DESIGN.md gives."""
    data = json_body()  # not a JSON object (or too deep to parse): invalid_json
    try:
        return model.model_validate(data)
    except PydanticError as error:
        raise _refusal(model, error) from None


def sent_fields(model: type[RequestModel]) -> dict[str, Any]:
    """The fields the client sent, checked by ``model`` (a field left out stays out)."""
    return body(model).model_dump(exclude_unset=True)


def document() -> dict[str, Any]:
    """The OpenAPI document of the /api/v1 routes (spectree builds it once a process)."""
    return SPEC.spec
