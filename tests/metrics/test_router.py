"""`GET /metrics`: the text format, open by default, behind a bearer token when one is set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cspr_engine import __version__
from cspr_engine.config import get_settings
from cspr_engine.kit.clock import FixedClock, get_clock
from tests.factories import assert_problem
from tests.metrics.helpers import parse, scrape, value

TOKEN = "metrics-token-4f9c2a7e1b"


@pytest.fixture
def guarded(clock: FixedClock) -> Iterator[TestClient]:
    """An app whose metrics ask for a token."""
    from cspr_engine.main import create_app

    app: FastAPI = create_app(get_settings().model_copy(update={"metrics_token": TOKEN}))
    app.dependency_overrides[get_clock] = lambda: clock
    with TestClient(app) as client:
        yield client


def test_the_metrics_are_the_prometheus_text_format_and_open_without_a_token(
    client: TestClient,
) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = parse(response.text)
    assert value(samples, "cspr_build_info", version=__version__) == 1
    # Every database figure is there from the start, at 0 on an empty database.
    for status in ("pending", "breached"):
        for kind in ("statutory", "advisory", "local"):
            assert value(samples, "cspr_clocks_open", status=status, kind=kind) == 0
    for channel in ("webhook", "email"):
        assert value(samples, "cspr_outbox_backlog", channel=channel) == 0
        assert value(samples, "cspr_outbox_dead_letters", channel=channel) == 0
    assert value(samples, "cspr_sweep_lag_seconds") == 0
    assert value(samples, "cspr_outbox_oldest_pending_seconds") == 0
    # No `_created` series beside the counters.
    assert not [name for name, _labels in samples if name.endswith("_created")]


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-000000000", f"Basic {TOKEN}", "Bearer ", f"Bearer {TOKEN}x"],
)
def test_with_a_token_set_a_scrape_without_it_is_401(
    guarded: TestClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = guarded.get("/metrics", headers=headers)
    body = assert_problem(response, 401, "/problems/unauthenticated")
    assert "cspr_" not in response.text
    assert body["detail"] == "Send the metrics token as `Authorization: Bearer <token>`."
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_with_a_token_set_a_scrape_with_it_is_served(guarded: TestClient) -> None:
    samples = scrape(guarded, Authorization=f"Bearer {TOKEN}")
    assert value(samples, "cspr_sweep_lag_seconds") == 0


def test_a_short_token_is_refused_at_start_up() -> None:
    from pydantic import ValidationError

    from cspr_engine.config import Settings

    with pytest.raises(ValidationError, match="metrics_token"):
        Settings(metrics_token="short")
