"""A local stand-in for Stripe: Checkout Sessions, a test payment page, signed webhooks.

It answers the API calls the shop makes (``POST /v1/checkout/sessions``, ``GET`` and
``/expire`` of one session), serves ``/pay/<session>`` whose "Pay" button sends
``checkout.session.completed`` signed as Stripe signs it
(``Stripe-Signature: t=<unix>,v1=<HMAC-SHA256(secret, "<t>.<body>")>``) to the
webhook URL, and can refund or dispute a payment for tests and demos (``/control/*``, the
overview page at ``/``, or the methods of ``StripeStandIn``).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

API_VERSION = "2026-11-01.standin"
SESSION_LIFETIME_SECONDS = 24 * 3600
DELIVERY_ATTEMPTS = 3
DELIVERY_TIMEOUT_SECONDS = 10.0
ASYNC_DELAY_SECONDS = 2.0
_KEY_PART = re.compile(r"\[([^\]]*)\]")


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header of ``payload``, made the way Stripe makes it."""
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.{payload}".encode(), hashlib.sha256)
    return f"t={stamp},v1={digest.hexdigest()}"


def _new_id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_hex(12)}"


def parse_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (``line_items[0][price_data][currency]=eur``) as nested data."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        parts = [head, *_KEY_PART.findall("[" + rest)] if rest else [head]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"conflicting keys at {key}")
        node[parts[-1]] = value
    return _listify(root)


def _listify(node: Any) -> Any:
    # {"0": a, "1": b} -> [a, b], the way Stripe reads indexed keys.
    if not isinstance(node, dict):
        return node
    items = {key: _listify(value) for key, value in node.items()}
    if items and all(key.isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


class _Handler(WSGIRequestHandler):
    """Werkzeug's handler, silent unless the stand-in was started with ``quiet=False``."""

    def log(self, type: str, message: str, *args: Any) -> None:
        if not getattr(self.server, "standin_quiet", True):
            super().log(type, message, *args)


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


def _error(message: str, status: int, kind: str = "invalid_request_error") -> Response:
    return _json({"error": {"type": kind, "message": message}}, status)


class StripeStandIn:
    """The stand-in on a real loopback socket.

    - ``webhook_url`` / ``webhook_secret``: where events go and what signs them.
    - ``api_key``: when set, API calls must carry it as a Bearer token (else any ``sk_``).
    - ``api_fault``: ``None``, ``"500"`` (API calls answer 500) or ``"hang"`` (they never
      answer until ``hang_seconds``): Stripe being unreachable or broken.
    - ``events``: every event sent, with the webhook's answers.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_url: str | None = None,
        webhook_secret: str = "whsec_standin",
        api_key: str | None = None,
        public_url: str | None = None,
        hang_seconds: float = 30.0,
        async_delay_seconds: float = ASYNC_DELAY_SECONDS,
        quiet: bool = True,
    ):
        self.host = host
        self.port = port
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.api_key = api_key
        self.public_url = public_url
        self.hang_seconds = hang_seconds
        self.async_delay_seconds = async_delay_seconds
        self.quiet = quiet
        self.api_fault: str | None = None
        self.sessions: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}  # by payment intent
        self.events: deque[dict[str, Any]] = deque(maxlen=1000)
        self.api_calls: deque[dict[str, Any]] = deque(maxlen=1000)
        self._idempotency: dict[str, str] = {}
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._timers: list[threading.Timer] = []
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # ----- server --------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def page_base(self) -> str:
        return (self.public_url or self.url).rstrip("/")

    def start(self) -> StripeStandIn:
        if self._server is not None:
            raise RuntimeError("the stand-in is already running")
        self._stopping.clear()
        server = make_server(
            self.host, self.port, self.wsgi_app, threaded=True, request_handler=_Handler
        )
        server.standin_quiet = self.quiet  # type: ignore[attr-defined]
        self.port = server.server_port
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"stripe-standin-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        for timer in self._timers:
            timer.cancel()
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> StripeStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ----- what Stripe does ----------------------------------------------------------

    def create_session(self, params: dict[str, Any], idempotency_key: str | None) -> dict:
        with self._lock:
            if idempotency_key and idempotency_key in self._idempotency:
                return self.sessions[self._idempotency[idempotency_key]]
            items = params.get("line_items") or []
            if params.get("mode") != "payment" or not isinstance(items, list) or not items:
                raise ValueError("mode=payment and line_items are required")
            total, currency, names = 0, None, []
            for item in items:
                price = item.get("price_data") or {}
                quantity = int(item.get("quantity", 1))
                total += int(price["unit_amount"]) * quantity
                currency = str(price["currency"]).lower()
                names.append((price.get("product_data") or {}).get("name", "item"))
            session_id = _new_id("cs")
            now = int(time.time())
            session = {
                "id": session_id,
                "object": "checkout.session",
                "mode": "payment",
                "amount_total": total,
                "amount_subtotal": total,
                "currency": currency,
                "client_reference_id": params.get("client_reference_id"),
                "metadata": params.get("metadata") or {},
                "customer_email": params.get("customer_email"),
                "payment_status": "unpaid",
                "status": "open",
                "payment_intent": None,
                "success_url": params.get("success_url"),
                "cancel_url": params.get("cancel_url"),
                "url": f"{self.page_base}/pay/{session_id}",
                "created": now,
                "expires_at": now + SESSION_LIFETIME_SECONDS,
                "livemode": False,
                "line_item_names": names,
            }
            self.sessions[session_id] = session
            if idempotency_key:
                self._idempotency[idempotency_key] = session_id
            return session

    def _session(self, session_id: str) -> dict[str, Any]:
        session = self.sessions.get(session_id)
        if session is None:
            raise KeyError(f"No such checkout.session: {session_id}")
        return session

    def pay(
        self, session_id: str, *, outcome: str = "paid", amount_total: int | None = None
    ) -> dict[str, Any]:
        """Complete a session: ``paid`` at once, or ``async_succeeded`` / ``async_failed``
        (completed unpaid now, the bank's answer after ``async_delay_seconds``).
        ``amount_total`` reports another amount than the session's (a mismatch test)."""
        with self._lock:
            session = self._session(session_id)
            if session["status"] != "open":
                raise ValueError(f"the session is {session['status']}")
            payment_intent = _new_id("pi")
            session["status"] = "complete"
            session["payment_intent"] = payment_intent
            session["payment_status"] = "paid" if outcome == "paid" else "unpaid"
            if amount_total is not None:
                session["amount_total"] = amount_total
            self.charges[payment_intent] = {
                "id": _new_id("ch"),
                "object": "charge",
                "amount": session["amount_total"],
                "amount_refunded": 0,
                "currency": session["currency"],
                "payment_intent": payment_intent,
                "refunded": False,
                "disputed": False,
                "metadata": dict(session["metadata"]),
            }
            snapshot = dict(session)
        event = self.send_event("checkout.session.completed", snapshot)
        if outcome in ("async_succeeded", "async_failed"):
            self._later(self._async_result, session_id, outcome == "async_succeeded")
        return event

    def _async_result(self, session_id: str, succeeded: bool) -> None:
        with self._lock:
            session = self._session(session_id)
            session["payment_status"] = "paid" if succeeded else "unpaid"
            snapshot = dict(session)
        kind = "succeeded" if succeeded else "failed"
        self.send_event(f"checkout.session.async_payment_{kind}", snapshot)

    def _later(self, function: Any, *args: Any) -> None:
        timer = threading.Timer(self.async_delay_seconds, function, args)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def wait_for_scheduled(self, timeout: float = 10.0) -> None:
        """Wait until the delayed bank answers scheduled so far have been sent."""
        for timer in list(self._timers):
            timer.join(timeout=timeout)

    def expire(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            session = self._session(session_id)
            if session["status"] != "open":
                raise ValueError(f"the session is {session['status']}")
            session["status"] = "expired"
            snapshot = dict(session)
        self.send_event("checkout.session.expired", snapshot)
        return snapshot

    def refund(self, payment_intent: str, amount: int | None = None) -> dict[str, Any]:
        """Refund ``amount`` more (all that is left when None); sends ``charge.refunded``."""
        with self._lock:
            charge = self.charges.get(payment_intent)
            if charge is None:
                raise KeyError(f"No such payment_intent: {payment_intent}")
            left = charge["amount"] - charge["amount_refunded"]
            amount = left if amount is None else int(amount)
            if amount <= 0 or amount > left:
                raise ValueError(f"a refund must be between 1 and {left}")
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
            snapshot = dict(charge)
        return self.send_event("charge.refunded", snapshot)

    def dispute(self, payment_intent: str) -> dict[str, Any]:
        with self._lock:
            charge = self.charges.get(payment_intent)
            if charge is None:
                raise KeyError(f"No such payment_intent: {payment_intent}")
            charge["disputed"] = True
            dispute = {
                "id": _new_id("dp"),
                "object": "dispute",
                "amount": charge["amount"],
                "currency": charge["currency"],
                "charge": charge["id"],
                "payment_intent": payment_intent,
                "reason": "fraudulent",
                "status": "needs_response",
            }
        return self.send_event("charge.dispute.created", dispute)

    def build_event(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        obj = {key: value for key, value in obj.items() if key != "line_item_names"}
        return {
            "id": _new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "type": kind,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": obj},
        }

    def send_event(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Build, sign and deliver an event (a few tries on errors); returns its record."""
        event = self.build_event(kind, obj)
        return self.deliver(event)

    def deliver(self, event: dict[str, Any]) -> dict[str, Any]:
        """Deliver ``event`` (again, for a redelivery) and record the answers."""
        payload = json.dumps(event)
        record = {"event": event, "attempts": []}
        with self._lock:
            self.events.append(record)
        if not self.webhook_url:
            return record
        for _attempt in range(DELIVERY_ATTEMPTS):
            if self._stopping.is_set():
                break
            try:
                answer = requests.post(
                    self.webhook_url,
                    data=payload.encode(),
                    headers={
                        "Content-Type": "application/json; charset=utf-8",
                        "Stripe-Signature": sign(payload, self.webhook_secret),
                        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks) standin",
                    },
                    timeout=DELIVERY_TIMEOUT_SECONDS,
                    allow_redirects=False,
                )
            except requests.RequestException as error:
                record["attempts"].append({"error": type(error).__name__})
            else:
                record["attempts"].append({"status": answer.status_code, "body": answer.text[:500]})
                if answer.status_code < 500:
                    break
            self._stopping.wait(0.2)
        return record

    # ----- HTTP ----------------------------------------------------------------------

    def wsgi_app(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except KeyError as error:
            response = _error(str(error.args[0]) if error.args else "not found", 404)
        except (ValueError, TypeError) as error:
            response = _error(str(error), 400)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        path, method = request.path.rstrip("/") or "/", request.method
        if path.startswith("/v1/"):
            return self._api(request, path, method)
        if path.startswith("/pay/"):
            return self._pay_page(request, path[len("/pay/") :], method)
        if path.startswith("/control/"):
            return self._control(request, path[len("/control/") :], method)
        if path == "/" and method == "GET":
            return self._overview()
        return _error("not found", 404)

    def _api(self, request: Request, path: str, method: str) -> Response:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        allowed = token == self.api_key if self.api_key else token.startswith("sk_")
        with self._lock:
            self.api_calls.append(
                {
                    "method": method,
                    "path": path,
                    "idempotency_key": request.headers.get("Idempotency-Key"),
                    "form": list(request.form.items(multi=True)),
                }
            )
        if not allowed:
            return _error("Invalid API Key provided.", 401, "authentication_error")
        if self.api_fault == "500":
            return _error("The stand-in was told to fail.", 500, "api_error")
        if self.api_fault == "hang":
            self._stopping.wait(self.hang_seconds)
            return _error("The stand-in was told to hang.", 500, "api_error")
        if path == "/v1/checkout/sessions" and method == "POST":
            params = parse_form(request.form.items(multi=True))
            key = request.headers.get("Idempotency-Key")
            return _json(self._public(self.create_session(params, key)))
        match = re.fullmatch(r"/v1/checkout/sessions/([A-Za-z0-9_]+)(/expire)?", path)
        if match and method == "GET" and not match.group(2):
            return _json(self._public(self._session(match.group(1))))
        if match and method == "POST" and match.group(2):
            return _json(self._public(self.expire(match.group(1))))
        return _error(f"Unrecognized request URL ({method}: {path}).", 404)

    @staticmethod
    def _public(session: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in session.items() if key != "line_item_names"}

    def _pay_page(self, request: Request, session_id: str, method: str) -> Response:
        session = self._session(session_id)
        if method == "POST":
            action = request.form.get("action", "pay")
            if action == "cancel":
                return Response(status=303, headers={"Location": session["cancel_url"]})
            outcomes = {"pay": "paid", "async_ok": "async_succeeded", "async_fail": "async_failed"}
            if action not in outcomes:
                raise ValueError("unknown action")
            if session["status"] == "open":
                self.pay(session_id, outcome=outcomes[action])
            return Response(status=303, headers={"Location": session["success_url"]})
        amount = session["amount_total"]
        price = f"{amount // 100}.{amount % 100:02d} {str(session['currency']).upper()}"
        names = ", ".join(session.get("line_item_names") or [])
        state = html.escape(session["status"])
        buttons = (
            '<button type="submit" name="action" value="pay" id="pay">Pay</button> '
            '<button type="submit" name="action" value="async_ok">Pay by bank transfer '
            "(confirmed later)</button> "
            '<button type="submit" name="action" value="async_fail">Pay by bank transfer '
            "(declined later)</button> "
            '<button type="submit" name="action" value="cancel" id="cancel">Cancel</button>'
            if session["status"] == "open"
            else f"<p>This checkout is {state}.</p>"
        )
        body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>Test payment · Stripe stand-in</title></head>
<body>
<h1>Test payment</h1>
<p>This is vpsshop's local Stripe stand-in: no real money moves.</p>
<p><strong>{html.escape(names)}</strong></p>
<p data-testid="amount">{html.escape(price)}</p>
<form method="post">{buttons}</form>
</body></html>"""
        return Response(body, mimetype="text/html")

    def _control(self, request: Request, rest: str, method: str) -> Response:
        body = request.get_json(silent=True) or dict(request.form.items())
        if rest == "events" and method == "GET":
            with self._lock:
                return _json({"events": list(self.events)})
        if rest == "config" and method == "POST":
            self.api_fault = body.get("api_fault") or None
            return _json({"api_fault": self.api_fault})
        if method != "POST":
            return _error("not found", 404)
        parts = rest.split("/")
        if len(parts) == 3 and parts[0] == "sessions" and parts[2] in ("pay", "expire"):
            if parts[2] == "expire":
                return _json(self.expire(parts[1]))
            amount = body.get("amount_total")
            return _json(
                self.pay(
                    parts[1],
                    outcome=body.get("outcome", "paid"),
                    amount_total=int(amount) if amount not in (None, "") else None,
                )
            )
        if len(parts) == 3 and parts[0] == "payment_intents" and parts[2] in ("refund", "dispute"):
            if parts[2] == "dispute":
                record = self.dispute(parts[1])
            else:
                amount = body.get("amount")
                record = self.refund(parts[1], int(amount) if amount not in (None, "") else None)
            if request.form:  # a button of the overview page
                return Response(status=303, headers={"Location": "/"})
            return _json(record)
        return _error("not found", 404)

    def _overview(self) -> Response:
        rows = []
        with self._lock:
            sessions = list(self.sessions.values())
            charges = dict(self.charges)
        for session in reversed(sessions):
            pi = session.get("payment_intent")
            charge = charges.get(pi) if pi else None
            actions = ""
            if charge is not None:
                pi_text = html.escape(pi)
                actions = (
                    f'<form method="post" action="/control/payment_intents/{pi_text}/refund">'
                    '<input name="amount" size="6" placeholder="all"> '
                    "<button>Refund</button></form>"
                    f'<form method="post" action="/control/payment_intents/{pi_text}/dispute">'
                    "<button>Dispute</button></form>"
                )
            refunded = charge["amount_refunded"] if charge else 0
            rows.append(
                f"<tr><td>{html.escape(session['id'])}</td><td>{session['amount_total']} "
                f"{html.escape(str(session['currency']))}</td><td>{html.escape(session['status'])}"
                f"</td><td>{refunded}</td><td>{actions}</td></tr>"
            )
        body = (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<link rel='icon' href='data:,'><title>Stripe stand-in</title></head>"
            "<body><h1>Stripe stand-in</h1>"
            f"<p>Webhooks go to {html.escape(self.webhook_url or '(nowhere)')}.</p>"
            "<table><tr><th>Session</th><th>Amount</th><th>Status</th><th>Refunded</th>"
            f"<th></th></tr>{''.join(rows)}</table></body></html>"
        )
        return Response(body, mimetype="text/html")
