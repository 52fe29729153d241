"""Re-encryption of every secret at rest under the newest key of ENCRYPTION_KEYS."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import InstrumentedAttribute

from vpsshop.extensions import db
from vpsshop.models import User, VpsSession, Worker
from vpsshop.services import crypto

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500

# Every encrypted column: (label, model, column). A new secret column belongs here.
ENCRYPTED_COLUMNS: list[tuple[str, type, InstrumentedAttribute]] = [
    ("vps_sessions.rdp_password_encrypted", VpsSession, VpsSession.rdp_password_encrypted),
    ("workers.token_encrypted", Worker, Worker.token_encrypted),
    ("users.totp_secret_encrypted", User, User.totp_secret_encrypted),
]


@dataclass
class ColumnReport:
    """What rotation did to one column."""

    label: str
    rotated: int = 0
    already_current: int = 0
    changed_meanwhile: int = 0
    undecryptable: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.label}: rotated={self.rotated} already_current={self.already_current} "
            f"changed_meanwhile={self.changed_meanwhile} undecryptable={len(self.undecryptable)}"
        )


def rotate_column(
    label: str, model: type, column: InstrumentedAttribute, batch_size: int = DEFAULT_BATCH_SIZE
) -> ColumnReport:
    """Re-encrypt one column in batches of ``batch_size`` rows, one commit per batch."""
    report = ColumnReport(label)
    last_id: uuid.UUID | None = None
    while True:
        query = select(model.id, column).where(column.is_not(None)).order_by(model.id)
        if last_id is not None:
            query = query.where(model.id > last_id)
        rows = db.session.execute(query.limit(batch_size)).all()
        if not rows:
            return report
        for row_id, ciphertext in rows:
            if crypto.is_under_newest_key(ciphertext):
                report.already_current += 1
                continue
            try:
                rotated = crypto.rotate(ciphertext)
            except crypto.InvalidToken:
                # Left as it is: a key may be missing from ENCRYPTION_KEYS, and dropping the
                # value would lose it for good.
                report.undecryptable.append(str(row_id))
                logger.warning("key_rotation undecryptable column=%s id=%s", label, row_id)
                continue
            # Conditional on the value read: a concurrent writer (already under the newest
            # key) wins, and its value is never overwritten with an older secret.
            result = db.session.execute(
                update(model)
                .where(model.id == row_id, column == ciphertext)
                .values({column.key: rotated})
                .execution_options(synchronize_session=False)
            )
            if result.rowcount:
                report.rotated += 1
            else:
                report.changed_meanwhile += 1
        db.session.commit()
        last_id = rows[-1][0]


def rotate_all(batch_size: int = DEFAULT_BATCH_SIZE) -> list[ColumnReport]:
    """Re-encrypt every encrypted column; safe to run again (current values are skipped)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    reports = [
        rotate_column(label, model, column, batch_size)
        for label, model, column in ENCRYPTED_COLUMNS
    ]
    for report in reports:
        logger.info("key_rotation %s", report.summary())
    return reports
