"""RQ job: probe every worker node and record its health."""

from __future__ import annotations

from vpsshop.services import workers


def probe_workers() -> dict[str, bool]:
    """Probe every non-disabled worker; runs in the app context the RQ worker provides."""
    results = workers.probe_all_workers()
    # String keys keep the stored job result readable from any client.
    return {str(worker_id): ok for worker_id, ok in results.items()}
