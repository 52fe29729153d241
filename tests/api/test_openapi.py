"""The OpenAPI document: valid 3.1, every /api/v1 route in it, the docs page, and the
live API checked against it by schemathesis."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from vpsshop.api.openapi import COMMON_ERRORS

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance"
)


@pytest.fixture
def app_config():
    # A stream that schemathesis opens ends within a second; the webhook checks signatures
    # (without a secret it is a 503 by design, which schemathesis counts as a failure).
    return {
        "EVENTS_MAX_SECONDS": 1,
        "EVENTS_KEEPALIVE_SECONDS": 0.5,
        "STRIPE_WEBHOOK_SECRET": "whsec_schemathesis",
    }


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


def test_document_is_valid_openapi_31(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"] == "3.1.0"
    validate(spec)  # openapi-spec-validator: raises on any violation
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token.",
    }


def test_every_api_rule_is_in_the_document(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = spec["paths"].get(_openapi_path(rule.rule), {})
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if method.lower() not in path:
                missing.append(f"{method} {rule.rule}")
    # A new route joins with @documented(...) (README "OpenAPI: converting a route").
    assert not missing, missing


def test_every_operation_documents_its_errors_and_auth(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    public = {
        ("post", "/api/v1/auth/token"),
        ("get", "/api/v1/openapi.json"),
        ("post", "/api/v1/auth/password-reset"),
        ("post", "/api/v1/auth/password-reset/confirm"),
        ("post", "/api/v1/billing/stripe/webhook"),
    }
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status in COMMON_ERRORS:
                answer = operation["responses"][str(status)]
                assert answer["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorBody"
                }, (method, path, status)
            if (method, path) in public:
                assert operation["security"] == []
            else:
                assert "security" not in operation and spec["security"] == [{"bearer": []}]
            if path.startswith("/api/v1/admin/"):
                assert "403" in operation["responses"], (method, path)


def test_request_schemas_come_from_the_models(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    coins = spec["components"]["schemas"]["CoinsRequest"]
    assert coins["properties"]["op"]["enum"] == ["add", "sub", "set"]
    assert coins["properties"]["amount"].items() >= {"type": "integer", "minimum": 0}.items()
    assert coins["additionalProperties"] is False
    purchase = spec["paths"]["/api/v1/vps/purchase-and-create"]["post"]
    assert purchase["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PurchaseRequest"
    }
    assert {"202", "402", "409", "422", "503"} <= set(purchase["responses"])


def test_docs_page_is_served_from_the_app_under_the_csp(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "http" not in re.sub(r'data-spec-url="[^"]*"', "", html.split("<body>")[1])
    for asset in re.findall(r'(?:src|href)="(/[^"]+)"', html):
        assert client.get(asset).status_code == 200, asset
    assert "<script>" not in html  # only script files, no inline script


def _schemathesis(base: str, token: str, seed: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{base}/api/v1/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            CHECKS,
            "--max-examples",
            "8",
            "--seed",
            str(seed),
            "--max-time",
            "12",
            "--request-timeout",
            "10",
            # It forwards to a node: a URL schemathesis registered could be anywhere.
            "--exclude-path-regex",
            r"/login$",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )


@pytest.mark.parametrize("who", ["user", "admin"])
def test_schemathesis_finds_no_failure(
    who, live_server, make_user, make_worker, make_product, api_token, closed_port
):
    worker = make_worker(f"http://127.0.0.1:{closed_port}")
    make_product([worker], price=3)
    caller = make_user(coins=50, admin=who == "admin")
    token = api_token(caller)
    result = _schemathesis(live_server.url, token, seed=20 if who == "user" else 21)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    # Every operation but the excluded one was tested, and every case passed.
    assert re.search(r"Tested: (\d+)\n", output) and "Tested: 0" not in output, output[-3000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", output)
    assert counts and counts.group(1) == counts.group(2) and int(counts.group(1)) > 19, output
    assert "failed" not in output.split("Test cases:")[1].split("Seed")[0], output[-3000:]


def test_merged_fields_and_the_webhook_are_documented(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    assert {"suspended", "suspended_reason", "two_factor"} <= set(schemas["AdminUser"]["required"])
    assert {"free_slots", "waitlist_position", "extend_minutes"} <= set(
        schemas["Product"]["properties"]
    )
    assert "extension" in schemas["Session"]["properties"]
    assert "email_verified" in schemas["MeBody"]["properties"]
    webhook = spec["paths"]["/api/v1/billing/stripe/webhook"]["post"]
    assert webhook["security"] == []
    assert webhook["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/StripeEvent"
    }
    assert {"200", "503"} <= set(webhook["responses"])
