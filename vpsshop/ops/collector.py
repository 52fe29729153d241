"""Scrape-time metrics read from the database and Redis (cheap, indexed queries)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from vpsshop.services import stats

PROVISIONING_WINDOW_HOURS = 24
PROVISIONING_QUANTILES = (0.5, 0.95, 1.0)


class ShopCollector(Collector):
    """Sessions, nodes, queue and coins as they are at the moment of the scrape.

    Collected inside the scrape's request (the app context is the request's).
    """

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._sessions()
        yield from self._nodes()
        yield from self._provisioning()
        yield from self._queue()
        yield GaugeMetricFamily(
            "vpsshop_coins_in_circulation",
            "Coins on all users' balances.",
            value=stats.coins_in_circulation(),
        )

    def describe(self) -> list:
        # Nothing described ahead: registering must not query the database.
        return []

    def _sessions(self) -> Iterator[GaugeMetricFamily]:
        sessions = GaugeMetricFamily(
            "vpsshop_sessions", "Sessions holding a slot, by status.", labels=["status"]
        )
        for status, count in stats.active_sessions_by_status().items():
            sessions.add_metric([status], count)
        yield sessions

    def _nodes(self) -> Iterator[GaugeMetricFamily]:
        # Labelled by the node's name only: its URL and token never leave the shop.
        healthy = GaugeMetricFamily(
            "vpsshop_node_healthy",
            "1 when the node answers (fewer than NODE_UNHEALTHY_AFTER failed calls in a row).",
            labels=["node"],
        )
        enabled = GaugeMetricFamily(
            "vpsshop_node_enabled", "1 when an admin has not disabled the node.", labels=["node"]
        )
        used = GaugeMetricFamily(
            "vpsshop_node_used_slots", "Sessions holding a slot on the node.", labels=["node"]
        )
        free = GaugeMetricFamily(
            "vpsshop_node_free_slots",
            "Slots a purchase can take now (0 on a disabled or unhealthy node).",
            labels=["node"],
        )
        for node in stats.node_slots():
            healthy.add_metric([node.name], int(node.healthy))
            enabled.add_metric([node.name], int(node.enabled))
            used.add_metric([node.name], node.used)
            free.add_metric([node.name], node.free)
        yield from (healthy, enabled, used, free)

    def _provisioning(self) -> Iterator[GaugeMetricFamily]:
        seconds = stats.recent_provisioning_seconds(PROVISIONING_WINDOW_HOURS)
        quantiles = GaugeMetricFamily(
            "vpsshop_provisioning_seconds",
            "Seconds from purchase to ready of the sessions bought in the last 24 hours.",
            labels=["quantile"],
        )
        for fraction in PROVISIONING_QUANTILES:
            value = stats.percentile(seconds, fraction)
            if value is not None:
                quantiles.add_metric([str(fraction)], value)
        yield quantiles
        yield GaugeMetricFamily(
            "vpsshop_provisioned_sessions_24h",
            "Sessions bought in the last 24 hours that became ready.",
            value=len(seconds),
        )

    def _queue(self) -> Iterator[GaugeMetricFamily]:
        counts = stats.queue_counts()
        yield GaugeMetricFamily(
            "vpsshop_redis_up", "1 when Redis answered this scrape.", value=int(counts is not None)
        )
        if counts is None:
            return
        depth = GaugeMetricFamily(
            "vpsshop_rq_queue_depth", "Jobs waiting in an RQ queue.", labels=["queue"]
        )
        failed = GaugeMetricFamily(
            "vpsshop_rq_failed_jobs", "Jobs in an RQ queue's failed-job registry.", labels=["queue"]
        )
        for name, (waiting, failures) in counts.items():
            depth.add_metric([name], waiting)
            failed.add_metric([name], failures)
        yield depth
        yield failed
