"""The request metrics one process keeps in memory: a registry of its own per app (tests
build many apps in one process; none shares another's counts)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, disable_created_metrics
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from cspr_engine import __version__

# Labels are bounded: a method outside these is "other", a path no route matches "unmatched",
# and a matched path is named by its route's template (never an id or a reference).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
# No `*_created` series beside each counter and histogram: they double the series and say
# only when this process first saw a label set.
disable_created_metrics()  # type: ignore[no-untyped-call]
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class RequestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("method", "route", "status_class")
        self.requests = Counter(
            "cspr_http_requests",
            "HTTP requests served by this process, by method, route template and status class.",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "cspr_http_request_duration_seconds",
            "Time to serve an HTTP request in this process (until its last byte was sent), by "
            "method, route template and status class.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        build = Info("cspr_build", "The cspr_engine release serving.", registry=self.registry)
        build.info({"version": __version__})
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        labels = (
            method if method in METHODS else "other",
            route,
            f"{status // 100}xx" if 100 <= status <= 599 else "other",
        )
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)
