"""A real `cspr-engine serve` with no scheduler, on the test database: its `/metrics` shows the
sweep lag growing between two scrapes a few seconds apart, behind the metrics token; and its
stderr is JSON lines (uvicorn's access log included) carrying the request and actor ids.

Every wait is bounded; the test stops (and, if need be, kills) only the process it starts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import Session, col

from cspr_engine.db import get_engine
from cspr_engine.deadlines.models import Deadline
from cspr_engine.kit.clock import SystemClock
from tests.conftest import FIXTURE_SECRETS, _free_port
from tests.factories import Api
from tests.metrics.helpers import lag, parse

pytestmark = pytest.mark.heavy

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 30
STOP_SECONDS = 15
TOKEN = "metrics-token-for-the-process-test"


def _command() -> list[str]:
    for candidate in (Path(sys.executable).parent / "cspr-engine", ROOT / ".venv/bin/cspr-engine"):
        if candidate.exists():
            return [str(candidate), "serve"]
    return [sys.executable, "-m", "cspr_engine.cli", "serve"]


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`cspr-engine serve` on a free port with no scheduler; its base URL and its stderr."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSPR_")}
    env.update(
        CSPR_DATABASE_URL=database_url,
        CSPR_ENVIRONMENT="test",
        CSPR_SCHEDULER_ENABLED="false",
        CSPR_LOG_FORMAT="json",
        CSPR_METRICS_TOKEN=TOKEN,
        CSPR_PORT=str(port),
        PYTHONUNBUFFERED="1",
    )
    stderr_path = tmp_path / "serve.err"
    with (tmp_path / "serve.out").open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(
            _command(),
            env=env,
            cwd=tmp_path,  # no stray .env file is read
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        give_up = time.monotonic() + START_SECONDS
        while True:
            assert process.poll() is None, f"serve exited:\n{stderr_path.read_text()}"
            assert time.monotonic() < give_up, f"serve did not start:\n{stderr_path.read_text()}"
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield url, stderr_path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_SECONDS)


def test_a_real_server_without_a_scheduler_shows_the_sweep_lag_growing(
    api: Api, served: tuple[str, Path]
) -> None:
    url, stderr_path = served
    case = api.create_case()
    # The server's clock is the real one: the case's first rung fell due an hour ago.
    due = SystemClock().now() - timedelta(hours=1)
    with Session(get_engine()) as session:
        session.execute(
            update(Deadline)
            .where(
                col(Deadline.case_id) == uuid.UUID(case["id"]),
                col(Deadline.next_rung_at).is_not(None),
            )
            .values(next_rung_at=due)
        )
        session.commit()

    with httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/metrics").status_code == 401
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        first = lag(parse(http.get("/metrics", headers=bearer).text))
        started = time.monotonic()
        time.sleep(2.5)
        second = lag(parse(http.get("/metrics", headers=bearer).text))
        waited = time.monotonic() - started
        read = http.get(
            f"/api/v1/cases/{case['id']}",
            headers=api.headers("chair", **{"X-Request-ID": "process-read-1"}),
        )
        assert read.status_code == 200, read.text

    assert 3600 <= first < 3600 + 60
    # It grew by the time between the scrapes (the lag is read to the microsecond).
    assert waited - 0.5 <= second - first <= waited + 0.5

    # The server's log: JSON lines only, the read's access line with its request and actor.
    lines = [json.loads(line) for line in stderr_path.read_text().splitlines() if line.strip()]
    access = [line for line in lines if line["request_id"] == "process-read-1"]
    assert [line["logger"] for line in access] == ["uvicorn.access"]
    assert access[0]["actor_id"] == api.directory.user_ids["TW"]["chair"]
    assert any(line["message"].startswith("Uvicorn running on") for line in lines)
    assert not [s for s in FIXTURE_SECRETS if s in stderr_path.read_text()]
