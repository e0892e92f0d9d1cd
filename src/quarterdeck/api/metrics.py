"""Prometheus metrics: runs, tasks and the queue from the database at scrape time; API latency as it happens."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from quarterdeck.app import health
from quarterdeck.store.database import Database

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_ATTEMPT_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _Census(Collector):
    """Yields the last census read from the database (cluster-wide, whichever process wrote it)."""

    def __init__(self) -> None:
        self.vitals = health.Vitals()

    def collect(self) -> Iterator[Metric]:
        census = self.vitals.census
        runs = GaugeMetricFamily("quarterdeck_runs", "Runs by status.", labels=["status"])
        for status, n in sorted(census.runs.items()):
            runs.add_metric([status], n)
        yield runs
        tasks = GaugeMetricFamily("quarterdeck_tasks", "Tasks by status.", labels=["status"])
        for status, n in sorted(census.tasks.items()):
            tasks.add_metric([status], n)
        yield tasks
        yield GaugeMetricFamily("quarterdeck_queue_depth", "Tasks ready to be claimed now.", value=census.ready_now)
        yield GaugeMetricFamily(
            "quarterdeck_cost_usd", "Money spent on model calls, over all runs.", value=census.cost_usd
        )
        yield self._attempts()
        yield from self._crew()

    def _crew(self) -> Iterator[Metric]:
        """How the crew's ended tasks did, by role and runtime (and model, for spend): docs/analytics.md."""
        crew = self.vitals.crew
        ended = GaugeMetricFamily(
            "quarterdeck_tasks_ended",
            "Ended tasks by role, runtime and outcome.",
            labels=["role", "runtime", "outcome"],
        )
        for outcome_labels, n in sorted(crew.ended.items()):
            ended.add_metric(list(outcome_labels), n)
        yield ended
        first = GaugeMetricFamily(
            "quarterdeck_tasks_first_attempt_succeeded",
            "Tasks that succeeded with no failed attempt, by role and runtime.",
            labels=["role", "runtime"],
        )
        revisions = GaugeMetricFamily(
            "quarterdeck_task_revisions", "Revisions asked for, by role and runtime.", labels=["role", "runtime"]
        )
        for labels, n in sorted(crew.first_attempt.items()):
            first.add_metric(list(labels), n)
            revisions.add_metric(list(labels), crew.revisions.get(labels, 0))
        yield first
        yield revisions
        cost = GaugeMetricFamily(
            "quarterdeck_model_cost_usd",
            "Money spent on model calls by role, runtime and model (the 20 dearest models; the rest as other).",
            labels=["role", "runtime", "model"],
        )
        tokens = GaugeMetricFamily(
            "quarterdeck_model_tokens",
            "Tokens by role, runtime, model and direction.",
            labels=["role", "runtime", "model", "direction"],
        )
        for model_labels, (usd, tokens_in, tokens_out) in sorted(crew.spend.items()):
            cost.add_metric(list(model_labels), usd)
            tokens.add_metric([*model_labels, "input"], tokens_in)
            tokens.add_metric([*model_labels, "output"], tokens_out)
        yield cost
        yield tokens

    def _attempts(self) -> Metric:
        family = HistogramMetricFamily(
            "quarterdeck_attempt_duration_seconds", "How long finished attempts took.", labels=["status"]
        )
        by_status: dict[str, list[float]] = {}
        for status, seconds in self.vitals.durations:
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
        self._census.vitals = await health.read_vitals(db)
        return generate_latest(self.registry)
