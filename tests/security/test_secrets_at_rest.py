"""Secrets at rest: no plaintext RDP password or node token in any table; rotate-keys."""

from __future__ import annotations

import uuid

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from vpsshop.extensions import db as _db
from vpsshop.models import VpsSession, Worker
from vpsshop.services import crypto

NODE_TOKEN = "node-token-" + uuid.uuid4().hex
NEW_NODE_TOKEN = "node-token-new-" + uuid.uuid4().hex


def dump_all_tables() -> str:
    """Every row of every table, as PostgreSQL prints it."""
    _db.session.commit()
    parts = []
    with _db.engine.connect() as conn:
        for table in _db.metadata.sorted_tables:
            rows = conn.execute(text(f'SELECT t::text FROM "{table.name}" AS t')).scalars()
            parts.append(f"## {table.name}\n" + "\n".join(rows))
    return "\n".join(parts)


@pytest.fixture
def app_config() -> dict:
    return {
        "WATCH_INTERVAL_SECONDS": 0.2,
        "NODE_CONNECT_TIMEOUT": 1.0,
        "NODE_READ_TIMEOUT": 2.0,
        "NODE_LOG_READ_TIMEOUT": 2.0,
        "PROVISION_TIMEOUT_SECONDS": 60,
    }


def test_no_plaintext_secret_after_purchase_to_ready(
    app, client, make_user, api_token, make_sim_node, make_product, run_jobs
):
    node = make_sim_node(token=NODE_TOKEN)
    admin = make_user(admin=True)
    admin_headers = {"Authorization": f"Bearer {api_token(admin)}"}
    registered = client.post(
        "/api/v1/admin/workers/register",
        json={"name": "secret-node", "base_url": node.url, "max_sessions": 3, "token": NODE_TOKEN},
        headers=admin_headers,
    )
    assert registered.status_code == 201, registered.get_json()
    assert NODE_TOKEN not in registered.get_data(as_text=True)
    worker_id = uuid.UUID(registered.get_json()["worker"]["id"])
    # A token change goes through the same encryption.
    node.configure(token=NEW_NODE_TOKEN)
    patched = client.patch(
        f"/api/v1/admin/workers/{worker_id}", json={"token": NEW_NODE_TOKEN}, headers=admin_headers
    )
    assert patched.status_code == 200, patched.get_json()
    assert NEW_NODE_TOKEN not in patched.get_data(as_text=True)

    product = make_product([_db.session.get(Worker, worker_id)], price=3)
    buyer = make_user(coins=10)
    headers = {"Authorization": f"Bearer {api_token(buyer)}"}
    bought = client.post(
        "/api/v1/vps/purchase-and-create", json={"product_id": str(product.id)}, headers=headers
    )
    assert bought.status_code == 202, bought.get_json()
    session_id = uuid.UUID(bought.get_json()["session"]["id"])

    def ready() -> bool:
        _db.session.expire_all()
        return _db.session.get(VpsSession, session_id).status == "ready"

    assert run_jobs(until=ready, timeout=20)
    answer = client.get(f"/api/v1/vps/sessions/{session_id}", headers=headers).get_json()
    password = answer["session"]["credentials"]["password"]
    session = _db.session.get(VpsSession, session_id)
    assert password == node.vm(session.worker_route)["password"]
    assert len(password) >= 8

    dump = dump_all_tables()
    assert buyer.email in dump and session.worker_route in dump  # the dump sees the rows
    assert session.rdp_password_encrypted and session.rdp_password_encrypted in dump
    for secret in (password, NODE_TOKEN, NEW_NODE_TOKEN):
        assert secret not in dump
    # Nor in any user-facing answer about the session.
    listing = client.get("/api/v1/vps/sessions", headers=headers).get_data(as_text=True)
    for secret in (NODE_TOKEN, NEW_NODE_TOKEN):
        assert secret not in listing


KEY_OLD = Fernet.generate_key().decode()
KEY_NEW = Fernet.generate_key().decode()


@pytest.fixture
def secrets_under_old_key(app, make_user, make_worker, make_product):
    """Five sessions and three node tokens encrypted under KEY_OLD, plaintexts by id."""
    app.config["ENCRYPTION_KEYS"] = KEY_OLD
    user = make_user()
    workers = [make_worker(token=f"token-{n}") for n in range(3)]
    make_worker()  # no token: nothing to rotate
    product = make_product(workers)
    plain: dict[uuid.UUID, str] = {worker.id: f"token-{n}" for n, worker in enumerate(workers)}
    for n in range(5):
        session = VpsSession(
            user_id=user.id,
            product_id=product.id,
            worker_id=workers[0].id,
            status="ready",
            price_coins=1,
            rdp_password_encrypted=crypto.encrypt(f"rdp-password-{n}"),
        )
        _db.session.add(session)
        _db.session.flush()
        plain[session.id] = f"rdp-password-{n}"
    _db.session.add(
        VpsSession(user_id=user.id, product_id=product.id, status="failed", price_coins=1)
    )
    _db.session.commit()
    return plain


def stored_ciphertexts() -> dict[uuid.UUID, str]:
    _db.session.expire_all()
    values = {}
    for model, column in ((VpsSession, "rdp_password_encrypted"), (Worker, "token_encrypted")):
        for row in _db.session.query(model).all():
            if getattr(row, column) is not None:
                values[row.id] = getattr(row, column)
    return values


def test_rotate_keys_reencrypts_everything_under_the_new_key(app, runner, secrets_under_old_key):
    before = stored_ciphertexts()
    assert set(before) == set(secrets_under_old_key)

    app.config["ENCRYPTION_KEYS"] = f"{KEY_NEW},{KEY_OLD}"
    result = runner.invoke(args=["rotate-keys", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "vps_sessions.rdp_password_encrypted: rotated=5 already_current=0" in result.output
    assert "workers.token_encrypted: rotated=3 already_current=0" in result.output
    assert "undecryptable=0" in result.output

    after = stored_ciphertexts()
    new_key = Fernet(KEY_NEW.encode())
    for row_id, plaintext in secrets_under_old_key.items():
        assert after[row_id] != before[row_id]
        assert new_key.decrypt(after[row_id].encode()).decode() == plaintext

    # Idempotent: a second run finds nothing to do and changes nothing.
    again = runner.invoke(args=["rotate-keys"])
    assert again.exit_code == 0, again.output
    assert "vps_sessions.rdp_password_encrypted: rotated=0 already_current=5" in again.output
    assert "workers.token_encrypted: rotated=0 already_current=3" in again.output
    assert stored_ciphertexts() == after

    # The old key can go: everything still decrypts with the new one alone.
    app.config["ENCRYPTION_KEYS"] = KEY_NEW
    for row_id, ciphertext in stored_ciphertexts().items():
        assert crypto.decrypt(ciphertext) == secrets_under_old_key[row_id]


def test_rotate_keys_reports_undecryptable_values_and_keeps_them(
    app, runner, secrets_under_old_key
):
    foreign = Fernet(Fernet.generate_key()).encrypt(b"from another deployment").decode()
    broken_ids = []
    for value in (foreign, "not a fernet token at all"):
        session = _db.session.query(VpsSession).filter_by(status="ready").first()
        copy = VpsSession(
            user_id=session.user_id,
            product_id=session.product_id,
            status="ready",
            price_coins=1,
            rdp_password_encrypted=value,
        )
        _db.session.add(copy)
        _db.session.flush()
        broken_ids.append(copy.id)
    _db.session.commit()

    app.config["ENCRYPTION_KEYS"] = f"{KEY_NEW},{KEY_OLD}"
    result = runner.invoke(args=["rotate-keys", "--batch-size", "3"])
    assert result.exit_code == 0, result.output
    assert "rotated=5" in result.output and "undecryptable=2" in result.output
    for broken_id in broken_ids:
        assert str(broken_id) in result.output
    values = stored_ciphertexts()
    assert values[broken_ids[0]] == foreign
    assert values[broken_ids[1]] == "not a fernet token at all"
    for row_id, plaintext in secrets_under_old_key.items():
        assert Fernet(KEY_NEW.encode()).decrypt(values[row_id].encode()).decode() == plaintext


def test_a_removed_key_stops_decrypting_what_it_decrypted_before(app):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    app.config["ENCRYPTION_KEYS"] = old_key
    token = crypto.encrypt("s3cret")
    assert crypto.decrypt(token) == "s3cret"
    assert crypto.decrypt(token) == "s3cret"  # from what this process decrypted before
    app.config["ENCRYPTION_KEYS"] = f"{new_key},{old_key}"
    assert crypto.decrypt(token) == "s3cret"
    app.config["ENCRYPTION_KEYS"] = new_key
    with pytest.raises(crypto.InvalidToken):
        crypto.decrypt(token)
