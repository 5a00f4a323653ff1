"""What ``codegym serve`` reports on ``/metrics`` (Prometheus text format, via ``prometheus_client``).

Each app has its own registry, so several servers (or tests) in one process do not collide. Worker
restarts and quarantined envs are read from the runtime at scrape time (``counters()`` and
``quarantined()`` where the runtime has them: the sandbox runtime does).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# step latency buckets in seconds: from a fast in-worker step to the default 10 s deadline
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_RATE_WINDOW_S = 10.0


class ServerMetrics:
    """Counters the server updates as it works, plus a collector that reads the runtime."""

    def __init__(self, live_sessions: Callable[[], int], runtime: Callable[[], Any]) -> None:
        disable_created_metrics()  # the *_created series only double the text; scrapers do not need them
        self.registry = CollectorRegistry()
        self.steps = Counter("codegym_steps", "env steps served", registry=self.registry)
        self.step_latency = Histogram("codegym_step_latency_seconds", "time to serve one step, in seconds",
                                      buckets=_BUCKETS, registry=self.registry)
        self.timeouts = Counter("codegym_step_timeouts", "steps that broke the step deadline",
                                registry=self.registry)
        self.requests = Counter("codegym_requests", "requests by endpoint and HTTP status",
                                ["endpoint", "status"], registry=self.registry)
        self.sessions_started = Counter("codegym_sessions_started", "sessions started", registry=self.registry)
        self.sessions_expired = Counter("codegym_sessions_expired", "sessions closed for being idle",
                                        registry=self.registry)
        live = Gauge("codegym_live_sessions", "sessions open now", registry=self.registry)
        live.set_function(lambda: float(live_sessions()))
        rate = Gauge("codegym_steps_per_second", f"steps served per second over the last {_RATE_WINDOW_S:g} s",
                     registry=self.registry)
        rate.set_function(self.steps_per_second)
        self._recent: collections.deque[float] = collections.deque()
        self.registry.register(_RuntimeCollector(runtime))

    def observe_step(self, seconds: float, timed_out: bool) -> None:
        self.steps.inc()
        self.step_latency.observe(seconds)
        if timed_out:
            self.timeouts.inc()
        now = time.monotonic()
        self._recent.append(now)
        self._trim(now)

    def steps_per_second(self) -> float:
        now = time.monotonic()
        self._trim(now)
        return len(self._recent) / _RATE_WINDOW_S

    def _trim(self, now: float) -> None:
        while self._recent and self._recent[0] < now - _RATE_WINDOW_S:
            self._recent.popleft()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _RuntimeCollector(Collector):
    """Worker restarts and quarantined envs, read from the runtime when scraped."""

    def __init__(self, runtime: Callable[[], Any]) -> None:
        self._runtime = runtime

    def collect(self) -> Iterator[Any]:
        runtime = self._runtime()
        counters = runtime.counters() if runtime is not None and hasattr(runtime, "counters") else {}
        restarts = CounterMetricFamily("codegym_worker_restarts", "env worker processes lost and replaced",
                                       labels=["reason"])
        for key, value in sorted(counters.items()):
            if key.startswith("workers_lost_"):
                restarts.add_metric([key.removeprefix("workers_lost_")], float(value))
        yield restarts
        replays = CounterMetricFamily("codegym_session_replays", "sessions rebuilt by replaying their calls")
        replays.add_metric([], float(counters.get("replays", 0)))
        yield replays
        quarantined = runtime.quarantined() if runtime is not None and hasattr(runtime, "quarantined") else {}
        gauge = GaugeMetricFamily("codegym_quarantined_envs", "env sources quarantined for this run")
        gauge.add_metric([], float(len(quarantined)))
        yield gauge
