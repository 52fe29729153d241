"""Database models, one module per domain."""

from vpsshop.models.audit import AuditEntry
from vpsshop.models.ledger import CoinTransaction, TransactionKind
from vpsshop.models.mail import MailMessage, MailState, PasswordResetToken
from vpsshop.models.product import VpsProduct, vps_product_workers
from vpsshop.models.session import ACTIVE_STATUSES, FINAL_STATUSES, SessionStatus, VpsSession
from vpsshop.models.user import ApiToken, User
from vpsshop.models.worker import Worker, WorkerStatus

__all__ = [
    "ACTIVE_STATUSES",
    "ApiToken",
    "AuditEntry",
    "CoinTransaction",
    "FINAL_STATUSES",
    "MailMessage",
    "MailState",
    "PasswordResetToken",
    "SessionStatus",
    "TransactionKind",
    "User",
    "VpsProduct",
    "VpsSession",
    "Worker",
    "WorkerStatus",
    "vps_product_workers",
]
