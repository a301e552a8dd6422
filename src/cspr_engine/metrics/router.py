"""`GET /metrics`: the Prometheus text format, for the internal network's scraper."""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cspr_engine.accounts.dependencies import SettingsDep
from cspr_engine.db import SessionDep
from cspr_engine.errors import ServiceUnavailable, Unauthenticated, error_responses
from cspr_engine.kit.clock import ClockDep
from cspr_engine.metrics import collectors
from cspr_engine.metrics.registry import RequestMetrics

router = APIRouter(tags=["observability"])


class _Scrape(Collector):
    """This process's request metrics, then the database's figures."""

    def __init__(self, request_metrics: RequestMetrics, database: Collector, seconds: float):
        self.parts = (request_metrics.registry, database)
        self.seconds = seconds

    def collect(self) -> Iterator[Metric]:
        for part in self.parts:
            yield from part.collect()
        yield GaugeMetricFamily(
            "cspr_metrics_database_seconds",
            "How long this scrape's database queries took.",
            value=self.seconds,
        )


def _check_token(request: Request, expected: str | None) -> None:
    if expected is None:
        return  # open: serve it on the internal network only (README, Observability)
    scheme, _, sent = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        sent.strip().encode(), expected.encode()
    ):
        raise Unauthenticated("Send the metrics token as `Authorization: Bearer <token>`.")


@router.get(
    "/metrics",
    summary="Prometheus metrics: requests, clocks, breaches, the sweep's lag, the alert outbox",
    description=(
        "The Prometheus text format (0.0.4). Open to anyone who can reach it unless "
        "`CSPR_METRICS_TOKEN` is set, when it asks for `Authorization: Bearer <token>`: "
        "serve it on the internal network only. Request metrics are this process's own; "
        "the clock and outbox figures are read from the database at scrape time."
    ),
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        # The figures are read from the database at scrape time (main's 503 handler).
        **error_responses(Unauthenticated, ServiceUnavailable),
    },
)
def metrics(
    request: Request, session: SessionDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    _check_token(request, settings.metrics_token)
    started = time.perf_counter()
    figures = collectors.read(session, clock.now())
    seconds = time.perf_counter() - started
    request_metrics: RequestMetrics = request.app.state.request_metrics
    body = generate_latest(_Scrape(request_metrics, collectors.DatabaseCollector(figures), seconds))
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)
