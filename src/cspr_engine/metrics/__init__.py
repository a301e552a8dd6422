"""Observability: `GET /metrics` in the Prometheus text format, and the request metrics and
log context every request passes through.

Two kinds of figure, which behave differently with several processes:

- **Request metrics** (`cspr_http_*`, `process_*`) are counted in memory by the process that
  served the request: each process exposes its own, Prometheus scrapes each process (one
  target per `cspr-engine serve`), and a query sums them (`sum without (instance) (...)`).
  A `cspr-engine worker` serves no HTTP and so exposes none.
- **Database figures** (`cspr_clocks_*`, `cspr_sweep_lag_seconds`, `cspr_outbox_*`) are read
  from the database at scrape time: every process answers the same, whichever is asked.
"""

from __future__ import annotations

from fastapi import FastAPI

from cspr_engine.kit.logs import LogContextMiddleware
from cspr_engine.metrics.middleware import RequestMetricsMiddleware
from cspr_engine.metrics.registry import RequestMetrics
from cspr_engine.metrics.router import router


def install(app: FastAPI) -> None:
    """Mount `GET /metrics`, and wrap every request (outermost: what they see includes the
    other middleware's refusals) in the request metrics and the log context."""
    metrics = RequestMetrics()
    app.state.request_metrics = metrics
    app.add_middleware(LogContextMiddleware)
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    app.include_router(router)
