"""RQ entry point of the periodic sweep."""

from __future__ import annotations

from vpsshop.services import sweeper


def sweep_sessions() -> dict[str, int]:
    try:
        return sweeper.sweep()
    finally:
        sweeper.continue_chain()
