"""Test set-up: a real database (a SQLite file, or PostgreSQL when CSPR_TEST_DATABASE_URL names
one), migrated once with Alembic, emptied after every test; the app in-process or on a real
uvicorn server; a frozen clock."""

from __future__ import annotations

import logging
import os
import re
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from cspr_engine.config import get_settings
from cspr_engine.db import build_engine, get_engine
from cspr_engine.kit.clock import FixedClock, get_clock
from cspr_engine.kit.tables import metadata
from tests.factories import Api, Directory, issued_tokens, make_directory, uvicorn_in_thread

LOOPBACK_RECEIVERS = "127.0.0.0/8,::1/128"

# The suite's "now": Wednesday 17 June 2026, 10:00 in London.
NOW = datetime(2026, 6, 17, 9, 0, tzinfo=UTC)


def _postgres_database(base_url: str) -> Iterator[str]:
    """A throwaway database on the server `base_url` points at."""
    url = make_url(base_url).set(drivername="postgresql+psycopg")
    name = f"cspr_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = build_engine(url.render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        # A throwaway database need not survive a crash of the PostgreSQL server itself, and no
        # test kills that server (the crash tests kill the service's own processes, whose
        # commits PostgreSQL has already made): commits skip the wait for the WAL flush.
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        get_engine().dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get("CSPR_TEST_DATABASE_URL")
    if base and base.startswith("postgres"):
        yield from _postgres_database(base)
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'cspr-test.db'}"


@pytest.fixture(scope="session", autouse=True)
def _configured(database_url: str) -> Iterator[None]:
    from cspr_engine.deadlines.calendar import get_calendar
    from cspr_engine.migrations import upgrade_head
    from cspr_engine.workflow.service import get_definitions

    managed = (
        "CSPR_DATABASE_URL",
        "CSPR_ENVIRONMENT",
        "CSPR_SCHEDULER_ENABLED",
        "CSPR_ANONYMOUS_REQUESTS_PER_MINUTE",
        "CSPR_WEBHOOK_ALLOWED_DESTINATIONS",
    )
    saved = {k: os.environ.get(k) for k in managed}
    os.environ["CSPR_DATABASE_URL"] = database_url
    os.environ["CSPR_ENVIRONMENT"] = "test"
    # The in-process app is shared by every test, all from one address ("testclient"), and
    # many tests probe without credentials on purpose: its budget is out of their way. The
    # default budget is tested on a real server (tests/kit/test_throttle.py), where
    # service_env leaves it at its default.
    os.environ["CSPR_ANONYMOUS_REQUESTS_PER_MINUTE"] = "1000000"
    # The suite's webhook receivers listen on 127.0.0.1, which only an allowed network may be
    # (tests/alerts/test_destinations.py checks the refusals).
    os.environ["CSPR_WEBHOOK_ALLOWED_DESTINATIONS"] = LOOPBACK_RECEIVERS
    # Tests drive the sweep and the delivery themselves, with their own clock.
    os.environ["CSPR_SCHEDULER_ENABLED"] = "false"
    for cached in (get_settings, get_engine, get_definitions, get_calendar):
        cached.cache_clear()
    upgrade_head(quiet=True)
    yield
    get_engine().dispose()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()
    get_engine.cache_clear()


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record that cannot be formatted is still no leak
            self.lines.append(str(record.msg))


# An API token as the service issues them (accounts.service.new_token_secret).
TOKEN_SHAPE = re.compile(r"cspr_[A-Za-z0-9_-]{43}")
# What the fixtures put in cases and headers: none of it may reach a log line.
FIXTURE_SECRETS = (
    "Infant admitted with unexplained fractures",
    "POL-2026-118",
)


@pytest.fixture(scope="session", autouse=True)
def _no_case_content_in_logs() -> Iterator[None]:
    """Every log record of the whole run, at every level the loggers are set to, checked at
    the end for the fixtures' case content and for the API tokens the tests used."""
    collector = _Collector()
    root = logging.getLogger()
    root.addHandler(collector)
    yield
    root.removeHandler(collector)
    # Tens of thousands of tokens: found by their shape, then looked up (not each searched for).
    tokens = set(issued_tokens())
    leaks = [
        line
        for line in collector.lines
        if any(s in line for s in FIXTURE_SECRETS)
        or any(t in tokens for t in TOKEN_SHAPE.findall(line))
    ]
    assert not leaks, f"case content or a token reached the logs: {leaks[:3]}"


@pytest.fixture(autouse=True)
def _empty_tables() -> Iterator[None]:
    yield
    with get_engine().begin() as conn:
        if conn.dialect.name == "postgresql":
            # The audit table refuses DELETE (an append-only trigger); the fixture, as the
            # superuser, switches triggers off for its own transaction.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def is_postgres() -> bool:
    return get_engine().dialect.name == "postgresql"


@pytest.fixture
def session() -> Iterator[Session]:
    with Session(get_engine(), expire_on_commit=False) as s:
        yield s


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


_APPS: dict[int, FastAPI] = {}


@pytest.fixture
def app(clock: FixedClock) -> Iterator[FastAPI]:
    """The app, built once per settings object (a test that changes the settings gets a new
    one), with this test's clock."""
    from cspr_engine.main import create_app

    settings = get_settings()
    application = _APPS.get(id(settings))
    if application is None or application.state.settings is not settings:
        application = _APPS[id(settings)] = create_app()
    application.dependency_overrides.clear()
    application.dependency_overrides[get_clock] = lambda: clock
    yield application
    application.dependency_overrides.clear()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def directory() -> Directory:
    """Two partnerships (TW and OT) with a user and token for every role."""
    return make_directory(NOW)


@pytest.fixture
def api(client: TestClient, directory: Directory) -> Api:
    return Api(client, directory)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[str]:
    """The app on a real uvicorn server on 127.0.0.1, for tests that need real concurrency."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=_free_port(), log_level="warning", lifespan="on"
    )
    with uvicorn_in_thread(config) as url:
        yield url


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The browser tests run in the SQLite suite (`make test`) only, unless
    CSPR_TEST_BROWSER_ON_POSTGRES is set: the pages call the same services as the API, whose
    tests run on both databases, and CI runs the two suites side by side within its budget."""
    base = os.environ.get("CSPR_TEST_DATABASE_URL", "")
    if not base.startswith("postgres") or os.environ.get("CSPR_TEST_BROWSER_ON_POSTGRES"):
        return
    skip = pytest.mark.skip(reason="browser tests run in the SQLite suite (make test)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def pytest_report_header() -> str:
    url = os.environ.get("CSPR_TEST_DATABASE_URL")
    return f"database: {'PostgreSQL' if url and url.startswith('postgres') else 'SQLite file'}"


ROOT = Path(__file__).resolve().parents[1]
