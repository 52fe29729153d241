"""Idempotent demo data: an admin, a user with coins, two simulated nodes and three products."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from vpsshop.extensions import db
from vpsshop.models import CoinPack, User, VpsProduct, Worker
from vpsshop.services import accounts, coin_packs, ledger, products, workers

ADMIN_EMAIL = "admin@example.com"
USER_EMAIL = "demo@example.com"
USER_COINS = 500
DEMO_PRODUCTS = (
    # name, price in coins, provision action, duration in minutes
    ("Linux VPS (1 hour)", 10, 1, 60),
    ("Windows VPS (2 hours)", 25, 2, 120),
    ("Test VM (10 minutes)", 1, 3, 10),
)
# Bought through the local Stripe stand-in: name, coins, price in cents, currency.
DEMO_COIN_PACKS = (
    ("Starter", 50, 500, "eur"),
    ("Regular", 120, 1000, "eur"),
    ("Large", 300, 2000, "eur"),
)
CREDENTIALS_FILE = "demo-credentials.json"


@dataclass(frozen=True)
class DemoAccount:
    email: str
    password: str
    is_admin: bool
    coins: int


def _load_passwords(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def _save_passwords(path: Path, passwords: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Owner-only: the file holds the demo accounts' passwords in clear.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(passwords, handle, indent=2, sort_keys=True)


def _ensure_account(
    email: str, *, admin: bool, coins: int, passwords: dict[str, str]
) -> tuple[User, str]:
    user = db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()
    if user is None:
        password = passwords.get(email) or secrets.token_urlsafe(12)
        user = accounts.create_user(email, password, is_admin=admin)
        if coins:
            ledger.add(user.id, coins, reason="demo seed")
    elif email not in passwords:
        # The account exists but its password was never stored here (or the file was
        # deleted): a fresh one is the only way to print a working password.
        password = secrets.token_urlsafe(12)
        accounts.change_password(user, password)
    else:
        password = passwords[email]
    passwords[email] = password
    return user, password


def _ensure_worker(name: str, base_url: str) -> Worker:
    worker = db.session.execute(select(Worker).where(Worker.name == name)).scalar_one_or_none()
    if worker is None:
        return workers.register_worker(name, base_url, max_sessions=3)
    if worker.base_url != workers.normalise_base_url(base_url):
        # The demo's nodes get free ports on every start; keep the registry pointing at them.
        workers.update_worker(worker, {"base_url": base_url})
    return worker


def seed_demo(nodes: list[tuple[str, str]], instance_dir: Path) -> list[DemoAccount]:
    """Create what the demo needs unless it exists; return the accounts with their passwords.

    ``nodes`` are (name, base_url) of the simulated nodes. Passwords are random on the
    first run and kept in ``instance_dir`` so that later runs print the same ones. Needs
    an app context; commits.
    """
    path = Path(instance_dir) / CREDENTIALS_FILE
    passwords = _load_passwords(path)
    try:
        created = [
            _ensure_account(ADMIN_EMAIL, admin=True, coins=0, passwords=passwords),
            _ensure_account(USER_EMAIL, admin=False, coins=USER_COINS, passwords=passwords),
        ]
        node_rows = [_ensure_worker(name, url) for name, url in nodes]
        for name, price, action, duration in DEMO_PRODUCTS:
            exists = db.session.execute(
                select(VpsProduct.id).where(VpsProduct.name == name)
            ).first()
            if exists is None:
                products.create_product(
                    name,
                    price,
                    action,
                    duration_minutes=duration,
                    worker_ids=[w.id for w in node_rows],
                )
        for name, coins, price, currency in DEMO_COIN_PACKS:
            if db.session.execute(select(CoinPack.id).where(CoinPack.name == name)).first() is None:
                coin_packs.create_pack(
                    {"name": name, "coins": coins, "price_minor": price, "currency": currency},
                    None,
                )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    # Only after the commit: a stored password always belongs to a stored account.
    _save_passwords(path, passwords)
    # After the commit, so that coins are re-read (the ledger updates them in SQL).
    return [DemoAccount(u.email, pw, u.is_admin, u.coins) for u, pw in created]
