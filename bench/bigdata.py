"""Big tables in bulk SQL: users, sessions, ledger rows and audit entries by generate_series.

The rows go in with the tables' secondary indexes dropped and are indexed again afterwards
(the same definitions, from pg_indexes), then VACUUM ANALYZE: ten million ledger rows load
in minutes instead of maintaining seven indexes row by row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg

from bench.seed import Seeded, settle

TABLES = ("users", "vps_sessions", "coin_transactions", "audit_entries")
# The history spreads over this many days before yesterday (today's rows are the run's).
DAYS = 1000


@dataclass(frozen=True)
class Size:
    """Rows per table in total after growing (what is there already counts)."""

    users: int
    sessions: int
    ledger: int
    audit: int

    def text(self) -> str:
        return (
            f"{self.users:,} users / {self.sessions:,} sessions / {self.ledger:,} ledger rows / "
            f"{self.audit:,} audit entries"
        )


# One user in three is an admin: the small data's "admins only" page (50 rows) is then as
# full as the large data's (with one in a hundred it showed 3 rows against a full 50).
_USERS = f"""
INSERT INTO users (id, email, password_hash, is_admin, coins, session_version, created_at)
SELECT gen_random_uuid(), 'user-' || (%(from)s + g) || '@big.example.com', 'x', g %% 3 = 0,
    0, 1, now() - interval '1 day' * ((%(from)s + g) %% {DAYS}) - g * interval '1 second'
FROM generate_series(1, %(n)s) AS g
"""

_SESSIONS = f"""
INSERT INTO vps_sessions (id, user_id, product_id, worker_id, status, price_coins,
    tried_worker_ids, stop_attempts, created_at, updated_at, ended_at)
SELECT gen_random_uuid(), u.ids[1 + g %% array_length(u.ids, 1)],
    p.ids[1 + g %% array_length(p.ids, 1)], w.ids[1 + g %% array_length(w.ids, 1)],
    (ARRAY['deleted', 'expired', 'failed'])[1 + g %% 3], 1, '[]', 0,
    now() - interval '1 day' - (g %% {DAYS}) * interval '1 day' - g * interval '1 second',
    now(), now() - interval '1 day' - (g %% {DAYS}) * interval '1 day'
FROM generate_series(1, %(n)s) AS g,
    (SELECT array_agg(id) AS ids FROM users WHERE email LIKE '%%@big.example.com') AS u,
    (SELECT array_agg(id) AS ids FROM workers) AS w,
    (SELECT array_agg(id) AS ids FROM vps_products) AS p
"""

# Of each user's rows (g / users is its row number) one in ten is a grant of 10, one a
# refund of 1, the rest purchases of 1, starting with a grant: every user's sum stays
# positive, so the coins column can follow the ledger (coins == sum(delta)).
_LEDGER = f"""
INSERT INTO coin_transactions (user_id, delta, balance_after, kind, reason, created_at)
SELECT u.ids[1 + g %% array_length(u.ids, 1)],
    CASE (g / array_length(u.ids, 1)) %% 10 WHEN 0 THEN 10 WHEN 1 THEN 1 ELSE -1 END, 0,
    CASE (g / array_length(u.ids, 1)) %% 10
        WHEN 0 THEN 'admin_add' WHEN 1 THEN 'refund' ELSE 'purchase' END,
    'bench history', now() - interval '1 day' - (g %% {DAYS}) * interval '1 day'
        - (g %% 86400) * interval '1 second'
FROM generate_series(1, %(n)s) AS g,
    (SELECT array_agg(id) AS ids FROM users WHERE email LIKE '%%@big.example.com') AS u
"""

_AUDIT = f"""
INSERT INTO audit_entries (actor_id, action, target_type, target_id, details, created_at)
SELECT %(admin)s, (ARRAY['worker.update', 'product.update', 'session.stop', 'job.requeue'])
        [1 + g %% 4],
    (ARRAY['worker', 'product', 'session', 'job'])[1 + g %% 4], md5(g::text), '{{}}',
    now() - interval '1 day' - (g %% {DAYS}) * interval '1 day' - (g %% 86400) * interval '1 second'
FROM generate_series(1, %(n)s) AS g
"""


def _count(conn: psycopg.Connection, table: str, where: str = "") -> int:
    return conn.execute(f"SELECT count(*) FROM {table} {where}").fetchone()[0]


def _secondary_indexes(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of every index of the tables that backs no constraint."""
    return conn.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
        """,
        (list(TABLES),),
    ).fetchall()


def grow(dsn: str, seeded: Seeded, size: Size, log=print) -> float:
    """Add rows until each table holds ``size``; seconds it took (load, index, analyze)."""
    started = time.monotonic()
    with psycopg.connect(dsn) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        admin = conn.execute(
            "SELECT id FROM users WHERE email = %s", (seeded.admin_email,)
        ).fetchone()[0]
        indexes = _secondary_indexes(conn)
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        have = _count(conn, "users")
        if size.users > have:
            conn.execute(_USERS, {"from": have, "n": size.users - have})
        for sql, table, want, extra in (
            (_SESSIONS, "vps_sessions", size.sessions, {}),
            (_LEDGER, "coin_transactions", size.ledger, {}),
            (_AUDIT, "audit_entries", size.audit, {"admin": admin}),
        ):
            have = _count(conn, table)
            if want > have:
                conn.execute(sql, {"n": want - have, **extra})
            log(f"   {table}: {max(want, have):,} rows ({time.monotonic() - started:.0f} s)")
        # The ledger invariant: coins == sum(delta) for every user of the bulk rows.
        conn.execute(
            """
            UPDATE users SET coins = s.total FROM (
                SELECT user_id, sum(delta) AS total FROM coin_transactions GROUP BY user_id
            ) AS s
            WHERE s.user_id = users.id AND users.email LIKE '%@big.example.com'
            """
        )
        for _, statement in indexes:
            conn.execute(statement)
        conn.commit()
    log(f"   indexed ({time.monotonic() - started:.0f} s)")
    settle(dsn)
    return time.monotonic() - started


def history_user(dsn: str, email: str | None = None) -> tuple[str, str, int]:
    """A bulk user (``email``, or the small data's first), its id, and the id of its 51st
    newest ledger row: where its second page of transactions starts."""
    with psycopg.connect(dsn) as conn:
        if email is None:
            email = conn.execute(
                "SELECT email FROM users WHERE email LIKE '%@big.example.com' "
                "ORDER BY email LIMIT 1"
            ).fetchone()[0]
        user_id = conn.execute("SELECT id FROM users WHERE email = %s", (email,)).fetchone()[0]
        row = conn.execute(
            "SELECT id FROM coin_transactions WHERE user_id = %s ORDER BY id DESC "
            "OFFSET 50 LIMIT 1",
            (user_id,),
        ).fetchone()
    return email, str(user_id), (row[0] if row else 2**62)
