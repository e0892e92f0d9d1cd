"""Prometheus metrics: runs, tasks and the queue from the database at scrape time; API latency as it happens."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from quarterdeck.store import listings
from quarterdeck.store.database import Database
from quarterdeck.store.types import utcnow

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_ATTEMPT_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _Census(Collector):
    """Yields the last census read from the database (cluster-wide, whichever process wrote it)."""

    def __init__(self) -> None:
        self.census = listings.Census(runs={}, tasks={}, ready_now=0, cost_usd=0.0)
        self.durations: Sequence[tuple[str, float]] = ()

    def collect(self) -> Iterator[Metric]:
        runs = GaugeMetricFamily("quarterdeck_runs", "Runs by status.", labels=["status"])
        for status, n in sorted(self.census.runs.items()):
            runs.add_metric([status], n)
        yield runs
        tasks = GaugeMetricFamily("quarterdeck_tasks", "Tasks by status.", labels=["status"])
        for status, n in sorted(self.census.tasks.items()):
            tasks.add_metric([status], n)
        yield tasks
        yield GaugeMetricFamily(
            "quarterdeck_queue_depth", "Tasks ready to be claimed now.", value=self.census.ready_now
        )
        yield GaugeMetricFamily(
            "quarterdeck_cost_usd", "Money spent on model calls, over all runs.", value=self.census.cost_usd
        )
        yield self._attempts()

    def _attempts(self) -> Metric:
        family = HistogramMetricFamily(
            "quarterdeck_attempt_duration_seconds", "How long finished attempts took.", labels=["status"]
        )
        by_status: dict[str, list[float]] = {}
        for status, seconds in self.durations:
            by_status.setdefault(status, []).append(seconds)
        for status, values in sorted(by_status.items()):
            buckets = [(str(bound), sum(1 for v in values if v <= bound)) for bound in _ATTEMPT_BUCKETS]
            buckets.append(("+Inf", len(values)))
            family.add_metric([status], buckets, sum_value=sum(values))
        return family


class Metrics:
    """One registry per app, so that several apps in one process (tests) do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "quarterdeck_api_request_duration_seconds",
            "API request latency by route template.",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._census = _Census()
        self.registry.register(self._census)

    async def render(self, db: Database) -> bytes:
        """Read the census from the database, then render every metric in the text format."""
        async with db.read() as conn:
            self._census.census = await listings.read_census(conn, now=utcnow())
            self._census.durations = await listings.read_attempt_durations(conn)
        return generate_latest(self.registry)
