"""Work gathered on an ORM session during a transaction, run once its outermost commit
is done and dropped when the transaction ends any other way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session

Pending = TypeVar("Pending")


class AfterCommit(Generic[Pending]):
    """One kind of deferred work, kept in ``session.info[name]``.

    ``pending(session)`` is where the transaction adds to it (``new()`` makes the empty
    one); ``run(pending)`` gets it after the outermost commit. A released savepoint is
    not that commit, and a rollback or a close without commit forgets it: nothing it
    named became visible.
    """

    def __init__(self, name: str, new: Callable[[], Pending], run: Callable[[Pending], None]):
        self.name = name
        self.new = new
        self.run = run
        self.installed = False

    def pending(self, session: Session) -> Pending:
        """This transaction's pending work, made empty the first time."""
        return session.info.setdefault(self.name, self.new())

    def after_commit(self, session: Session) -> None:
        # SQLAlchemy also reports a released savepoint here; only the outermost commit
        # makes the changes visible.
        if session.in_nested_transaction():
            return
        pending = session.info.pop(self.name, None)
        if pending:
            self.run(pending)

    def forget(self, session: Session, transaction: Any) -> None:
        if transaction.parent is None and not transaction.nested:
            session.info.pop(self.name, None)

    def install(self) -> None:
        """Listen to every ORM session of the process; idempotent."""
        if self.installed:
            return
        event.listen(Session, "after_commit", self.after_commit)
        event.listen(Session, "after_transaction_end", self.forget)
        self.installed = True
