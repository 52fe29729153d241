"""What the measurements do as clients: sign in, buy, read the nodes' and the database's view."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin

import psycopg
import requests

USER_AGENT = "vpsshop-bench"
_CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def browser_headers(base_url: str, email: str, password: str) -> dict[str, str]:
    """Sign in through the /login form (CSRF token included); the headers of that browser.

    The same User-Agent goes to the load generator, so Flask-Login's session protection
    sees one browser, as it would in real polling.
    """
    http = requests.Session()
    http.headers["User-Agent"] = USER_AGENT
    page = http.get(f"{base_url}/login", timeout=10)
    match = _CSRF_RE.search(page.text)
    if match is None:
        raise RuntimeError("no CSRF token on /login")
    answer = http.post(
        f"{base_url}/login",
        data={"csrf_token": match.group(1), "email": email, "password": password},
        allow_redirects=False,
        timeout=10,
    )
    if answer.status_code != 302:
        raise RuntimeError(f"sign-in failed: HTTP {answer.status_code}")
    # Land on the page the sign-in redirects to, as a browser does: it shows (and takes out
    # of the cookie) the "Signed in." message, so the polls carry the cookie a browser has.
    http.get(urljoin(base_url, answer.headers["Location"]), timeout=10)
    cookie = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
    return {"Cookie": cookie, "User-Agent": USER_AGENT}


def bearer(token: str) -> dict[str, str]:
    """API headers of a token."""
    return {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT}


@dataclass(frozen=True)
class Purchase:
    """One purchase-and-create call as the buyer saw it (wall-clock times, seconds)."""

    session_id: str | None
    status: int
    sent_at: float
    answered_at: float

    @property
    def latency_ms(self) -> float:
        return (self.answered_at - self.sent_at) * 1000


def buy(http: requests.Session, base_url: str, token: str, product_id: str) -> Purchase:
    """One ``POST /api/v1/vps/purchase-and-create``."""
    sent = time.time()
    answer = http.post(
        f"{base_url}/api/v1/vps/purchase-and-create",
        json={"product_id": product_id},
        headers=bearer(token),
        timeout=30,
    )
    answered = time.time()
    session_id = answer.json()["session"]["id"] if answer.status_code == 202 else None
    return Purchase(session_id, answer.status_code, sent, answered)


def buy_concurrently(
    base_url: str,
    tokens: list[str],
    product_id: str,
    *,
    total: int,
    max_seconds: float,
) -> list[Purchase]:
    """``total`` purchases by ``len(tokens)`` buyers at once (one keep-alive connection
    and one account each), stopping early after ``max_seconds``."""
    done: list[Purchase] = []
    lock = threading.Lock()
    remaining = [total]
    deadline = time.monotonic() + max_seconds

    def buyer(token: str) -> None:
        with requests.Session() as http:
            while time.monotonic() < deadline:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                result = buy(http, base_url, token, product_id)
                with lock:
                    done.append(result)

    threads = [threading.Thread(target=buyer, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max_seconds + 35)
    return done


def node_requests(node_urls: list[str], endpoint: str) -> list[dict]:
    """Calls the simulated nodes recorded for ``endpoint`` (each with its ``time``)."""
    records = []
    for url in node_urls:
        stats = requests.get(f"{url}/_sim/stats", timeout=30).json()
        records += [r for r in stats["requests"] if r["endpoint"] == endpoint]
    return records


def create_times(node_urls: list[str]) -> dict[str, float]:
    """When a node received ``POST /vm-loso`` for each session (first call wins)."""
    times: dict[str, float] = {}
    for record in node_requests(node_urls, "create"):
        body = record.get("json") or {}
        session_id = body.get("session") if isinstance(body, dict) else None
        if session_id and session_id not in times:
            times[session_id] = record["time"]
    return times


def wait_sessions(
    dsn: str, session_ids: list[str], until: tuple[str, ...], timeout: float
) -> dict[str, tuple[str, float | None]]:
    """Poll the database until every session's status is in ``until`` (or ``timeout``);
    ``{id: (status, ready_at epoch or None)}``."""
    deadline = time.monotonic() + timeout
    rows: dict[str, tuple[str, float | None]] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            found = conn.execute(
                "SELECT id::text, status, extract(epoch FROM ready_at) FROM vps_sessions "
                "WHERE id = ANY(%s::uuid[])",
                (session_ids,),
            ).fetchall()
            rows = {sid: (status, float(ready) if ready else None) for sid, status, ready in found}
            if all(rows.get(s, ("",))[0] in until for s in session_ids):
                return rows
            if time.monotonic() > deadline:
                return rows
            time.sleep(0.25)
