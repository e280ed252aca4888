"""Prometheus metrics: requests, latency, findings per label and rule, actions, active streams.

Each app owns its registry (tests build many apps in one process). When several worker
processes serve (`moderation serve --workers N`), `PROMETHEUS_MULTIPROC_DIR` is set and a scrape
sums every worker's files instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from moderation.types import Result

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class _ActiveStreams(Collector):
    """Read at scrape time from the stream store, so it is right with Redis and several workers."""

    def __init__(self, count: Callable[[], int]) -> None:
        self._count = count

    def collect(self) -> Iterable[Metric]:
        try:
            value = float(self._count())
        except Exception:  # a scrape must not fail because Redis blinked; readyz reports that
            value = float("nan")
        yield GaugeMetricFamily("moderation_active_streams", "open live stream sessions", value=value)


class Metrics:
    def __init__(self, active_streams: Callable[[], int]) -> None:
        disable_created_metrics()  # `*_created` series double the scrape and nobody graphs them
        self.registry = CollectorRegistry(auto_describe=True)
        self._active = _ActiveStreams(active_streams)
        self.registry.register(self._active)
        self.requests = Counter(
            "moderation_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "moderation_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.findings = Counter(
            "moderation_findings",
            "findings reported, per label and rule",
            ["label", "rule"],
            registry=self.registry,
        )
        self.actions = Counter("moderation_actions", "results per action", ["action"], registry=self.registry)
        self.suppressed = Counter(
            "moderation_reminders_suppressed",
            "stream reminders held back by the per-rule cooldown",
            ["rule"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "moderation_http_requests_in_flight",
            "HTTP requests being served",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.segments = Counter(
            "moderation_stream_segments", "stream segments checked", registry=self.registry
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_result(self, result: Result) -> None:
        self.actions.labels(result.action.value).inc()
        for hit in result.hits:
            self.findings.labels(hit.label.value, hit.rule).inc()

    def observe_suppressed(self, rules: Iterable[str]) -> None:
        for rule in rules:
            self.suppressed.labels(rule).inc()

    def exposition(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            registry.register(self._active)
            return generate_latest(registry)
        return generate_latest(self.registry)
