"""Bench data: accounts and tokens through the app's services, history in bulk SQL."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field

import psycopg

BUYERS = 16
BUYER_COINS = 1_000_000_000
ADMIN_EMAIL = "admin@bench.example.com"
HISTORY_EMAIL = "history@bench.example.com"
# (name, price, provision action, minutes): like the demo's catalogue; the last one is
# what the bench buys (price 1, so the buyers never run out).
PRODUCTS = (
    ("Linux VPS (1 hour)", 10, 1, 60),
    ("Windows VPS (2 hours)", 25, 2, 120),
    ("Test VM (1 hour)", 1, 3, 60),
)
# Slots per worker row: every purchase of the run fits, whatever the worker count.
WORKER_SLOTS = 1000


@dataclass
class Seeded:
    """Ids and secrets the measurements need."""

    admin_email: str
    admin_password: str
    buyer_emails: list[str]
    buyer_password: str
    buyer_tokens: list[str]
    product_ids: list[str]
    bench_product_id: str
    history_user_id: str
    node_urls: list[str]
    worker_ids: list[str] = field(default_factory=list)
    flash_tokens: list[str] = field(default_factory=list)
    flash_product_id: str = ""
    boot_product_id: str = ""


def app_for(stack_env: dict[str, str]):
    """The app in-process on a stack's database and Redis (``stack.env`` or ``large_env``)."""
    from vpsshop import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": stack_env["DATABASE_URL"],
            "REDIS_URL": stack_env["REDIS_URL"],
            "SECRET_KEY": stack_env["SECRET_KEY"],
            "ENCRYPTION_KEYS": stack_env["ENCRYPTION_KEYS"],
        }
    )


def _special_product(name: str, rows: list) -> object:
    from vpsshop.services import products

    return products.create_product(name, 1, 3, duration_minutes=60, worker_ids=[w.id for w in rows])


def seed_base(
    stack_env: dict[str, str],
    node_urls: list[str],
    workers: int,
    *,
    flash: tuple[int, int, int] = (0, 0, 0),
    boot_node_urls: tuple[str, ...] = (),
    boot_slots: int = 0,
) -> Seeded:
    """Admin, buyers with coins and API tokens, ``workers`` worker rows spread over the
    simulated nodes (several rows may share a node), the catalogue. Through the services,
    so every invariant (ledger, encryption, audit) holds as in production.

    ``flash`` is (buyers, worker rows, slots each) of the flash sale's own product; the
    boot test's product sells only on ``boot_node_urls`` (``boot_slots`` each)."""
    from vpsshop.extensions import db
    from vpsshop.services import accounts, ledger, products, tokens
    from vpsshop.services import workers as worker_service

    admin_password = secrets.token_urlsafe(12)
    buyer_password = secrets.token_urlsafe(12)
    app = app_for(stack_env)
    with app.app_context():
        accounts.create_user(ADMIN_EMAIL, admin_password, is_admin=True)
        history = accounts.create_user(HISTORY_EMAIL, secrets.token_urlsafe(12))
        emails, api_tokens = [], []
        for index in range(BUYERS):
            email = f"buyer-{index:02d}@bench.example.com"
            user = accounts.create_user(email, buyer_password)
            ledger.add(user.id, BUYER_COINS, reason="bench")
            api_tokens.append(tokens.issue_token(user))
            emails.append(email)
        rows = [
            worker_service.register_worker(
                f"node-{index:03d}", node_urls[index % len(node_urls)], max_sessions=WORKER_SLOTS
            )
            for index in range(workers)
        ]
        db.session.flush()
        made = [
            products.create_product(
                name, price, action, duration_minutes=minutes, worker_ids=[w.id for w in rows]
            )
            for name, price, action, minutes in PRODUCTS
        ]
        flash_buyers, flash_rows, flash_slots = flash
        flash_tokens = []
        for index in range(flash_buyers):
            user = accounts.create_user(f"flash-{index:02d}@bench.example.com", buyer_password)
            ledger.add(user.id, 10, reason="bench")
            flash_tokens.append(tokens.issue_token(user))
        flash_nodes = [
            worker_service.register_worker(
                f"flash-{index:02d}", node_urls[index % len(node_urls)], max_sessions=flash_slots
            )
            for index in range(flash_rows)
        ]
        boot_nodes = [
            worker_service.register_worker(f"boot-{index:02d}", url, max_sessions=boot_slots)
            for index, url in enumerate(boot_node_urls)
        ]
        db.session.flush()
        flash_product = _special_product("Flash sale VM", flash_nodes) if flash_nodes else None
        boot_product = _special_product("Boot test VM", boot_nodes) if boot_nodes else None
        db.session.commit()
        seeded = Seeded(
            admin_email=ADMIN_EMAIL,
            admin_password=admin_password,
            buyer_emails=emails,
            buyer_password=buyer_password,
            buyer_tokens=api_tokens,
            product_ids=[str(p.id) for p in made],
            bench_product_id=str(made[-1].id),
            history_user_id=str(history.id),
            node_urls=node_urls,
            worker_ids=[str(w.id) for w in rows],
            flash_tokens=flash_tokens,
            flash_product_id=str(flash_product.id) if flash_product else "",
            boot_product_id=str(boot_product.id) if boot_product else "",
        )
        db.session.remove()
        db.engine.dispose()
    return seeded


def grow_workers(dsn: str, seeded: Seeded, total: int) -> None:
    """Add worker rows (sharing the simulated nodes) up to ``total``, all selling every
    product, in bulk SQL."""
    with psycopg.connect(dsn) as conn:
        have = conn.execute("SELECT count(*) FROM workers").fetchone()[0]
        for index in range(have, total):
            worker_id = uuid.uuid4()
            url = seeded.node_urls[index % len(seeded.node_urls)]
            conn.execute(
                "INSERT INTO workers (id, name, base_url, status, max_sessions, "
                "consecutive_failures, created_at) VALUES (%s, %s, %s, 'active', %s, 0, now())",
                (worker_id, f"node-{index:03d}", url, WORKER_SLOTS),
            )
            conn.execute(
                "INSERT INTO vps_product_workers (product_id, worker_id) "
                "SELECT id, %s FROM vps_products",
                (worker_id,),
            )
            seeded.worker_ids.append(str(worker_id))
        conn.commit()
    settle(dsn)


def grow_history(dsn: str, seeded: Seeded, sessions: int, ledger_rows: int) -> dict[str, int]:
    """Ended sessions up to ``sessions`` and ledger rows up to ``ledger_rows`` in total,
    one INSERT … SELECT generate_series each; the history user's coins follow the ledger.
    Returns the counts afterwards."""
    with psycopg.connect(dsn) as conn:
        have = conn.execute("SELECT count(*) FROM vps_sessions").fetchone()[0]
        if sessions > have:
            # Ended long ago, never on a node (no route): nothing for the sweeper to do.
            conn.execute(
                """
                INSERT INTO vps_sessions (id, user_id, product_id, worker_id, status,
                    price_coins, tried_worker_ids, stop_attempts, created_at, updated_at,
                    ended_at)
                SELECT gen_random_uuid(), %(user)s, p.ids[1 + g %% array_length(p.ids, 1)],
                    w.ids[1 + g %% array_length(w.ids, 1)],
                    (ARRAY['deleted', 'expired'])[1 + g %% 2], 1, '[]', 0,
                    now() - interval '1 day' - g * interval '1 minute', now(),
                    now() - interval '1 day' - g * interval '1 minute' + interval '30 minutes'
                FROM generate_series(1, %(n)s) AS g,
                    (SELECT array_agg(id) AS ids FROM workers) AS w,
                    (SELECT array_agg(id) AS ids FROM vps_products) AS p
                """,
                {"user": seeded.history_user_id, "n": sessions - have},
            )
        have = conn.execute("SELECT count(*) FROM coin_transactions").fetchone()[0]
        if ledger_rows > have:
            conn.execute(
                """
                INSERT INTO coin_transactions (user_id, delta, balance_after, kind, reason,
                    created_at)
                SELECT %(user)s, 1, g, 'admin_add', 'bench history',
                    now() - interval '1 day' + g * interval '1 second'
                FROM generate_series(1, %(n)s) AS g
                """,
                {"user": seeded.history_user_id, "n": ledger_rows - have},
            )
            # The ledger invariant: coins == sum(delta) for every user.
            conn.execute(
                "UPDATE users SET coins = (SELECT coalesce(sum(delta), 0) FROM "
                "coin_transactions WHERE user_id = users.id) WHERE id = %s",
                (seeded.history_user_id,),
            )
        conn.commit()
    settle(dsn)
    return counts(dsn)


def settle(dsn: str) -> None:
    """VACUUM ANALYZE after a bulk insert: fresh statistics for the planner, and no
    autovacuum of 100,000 new rows starting in the middle of the next measurement. Then a
    CHECKPOINT: the gigabytes a large load dirtied are written now, not spread by the
    checkpointer over the page timings that follow."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")


def counts(dsn: str) -> dict[str, int]:
    """Rows per table that the scaling measurement is about."""
    with psycopg.connect(dsn) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("workers", "users", "vps_sessions", "coin_transactions", "audit_entries")
        }
