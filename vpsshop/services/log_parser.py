"""Reads connection details and failure lines out of a node's log (worker-api.md).

STUB: interface fixed, implementation pending (issue 3).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConnectionDetails:
    host: str
    port: int
    username: str
    password: str


@dataclass(frozen=True)
class LogReading:
    details: ConnectionDetails | None  # set when host, username and password are known
    failure: str | None  # the failure line (without timestamp) when one appeared

    @property
    def ready(self) -> bool:
        return self.details is not None


def parse_log(text: str, action: int) -> LogReading:
    """Parse a whole log; ``action`` (1 Linux, 2 Windows, 3 Test) picks the default port."""
    raise NotImplementedError
