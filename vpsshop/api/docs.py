"""``GET /api/v1/openapi.json`` and ``/api/docs``: the document, and Swagger UI showing it.

Swagger UI's files come from the ``flask-swagger-ui`` package (its ``dist`` folder),
served by the app itself under ``/api/docs/assets/``; the page starts it from the shop's
own script file, so the CSP needs no exception.
"""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, jsonify, render_template

from vpsshop.api import bp
from vpsshop.api.openapi import PUBLIC, document, documented, responses
from vpsshop.api.schemas import OpenApiDocument

SWAGGER_UI_DIST = Path(flask_swagger_ui.__file__).resolve().parent / "dist"

docs_bp = Blueprint(
    "api_docs",
    __name__,
    static_folder=str(SWAGGER_UI_DIST),
    static_url_path="/api/docs/assets",
)


@bp.get("/openapi.json")
@documented(resp=responses({200: OpenApiDocument}), tags=("docs",), security=PUBLIC)
def openapi_document():
    """This document: OpenAPI 3.1, generated from the routes' schemas."""
    response = jsonify(document())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@docs_bp.get("/api/docs")
def api_docs():
    return render_template("api/docs.html")
