"""The service as a person starts it: the real `cspr-engine migrate` and `serve` processes on a
real port and a fresh, empty database (a new SQLite file, or a new PostgreSQL database when the
suite runs on PostgreSQL), with each documented start-up setting: the bootstrap token on an
empty database and on one that has its admin, the scheduler on and off, production with and
without its required settings, and `make run` itself. Each start is checked at /readyz, with
one authenticated call, and stopped with SIGTERM, which must end it cleanly."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from cspr_engine.db import build_engine
from tests.processes import (
    ROOT,
    START_SECONDS,
    STOP_SECONDS,
    Server,
    cli_command,
    free_port,
    service_env,
    start_server,
    stopped_at_exit,
    wait_until,
)

pytestmark = pytest.mark.heavy

# What production asks of its settings, all present (each test leaves one out).
PRODUCTION = {
    "CSPR_ENVIRONMENT": "production",
    "CSPR_COOKIE_SECURE": "true",
    "CSPR_PUBLIC_URL": "https://cspr.example.org",
}


def strong_token() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture
def fresh_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database nothing has touched: a new SQLite file, or a new PostgreSQL database on the
    server the suite uses."""
    if not database_url.startswith("postgres"):
        yield f"sqlite:///{tmp_path / 'first-start.db'}"
        return
    url = make_url(database_url)
    name = f"cspr_first_{uuid.uuid4().hex[:10]}"
    admin = build_engine(url.set(database="postgres").render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_cli(
    database_url: str, cwd: Path, *args: str, **settings: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_command(*args),
        env=service_env(database_url, **settings),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=START_SECONDS * 2,
        check=False,
    )


def migrate(database_url: str, cwd: Path) -> None:
    done = run_cli(database_url, cwd, "migrate")
    assert done.returncode == 0, done.stderr
    assert "database migrated to the latest schema" in done.stdout


def serve(database_url: str, logs: Path, name: str, **settings: str) -> Server:
    """`cspr-engine serve` as a user starts it: log lines at INFO, so start-up and shutdown say
    what they did."""
    return start_server(database_url, logs, name, **{"CSPR_LOG_LEVEL": "INFO", **settings})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_ready_and_authenticated(server: Server, token: str) -> None:
    server.wait_ready()
    ready = httpx.get(f"{server.url}/readyz", timeout=5)
    assert ready.json()["status"] == "ready", ready.text
    cases = httpx.get(f"{server.url}/api/v1/cases", headers=bearer(token), timeout=5)
    assert cases.status_code == 200, cases.text
    assert cases.json() == {"items": [], "next_cursor": None}
    # The bootstrap token is a platform administrator's: it may list partnerships.
    partnerships = httpx.get(f"{server.url}/api/v1/partnerships", headers=bearer(token), timeout=5)
    assert partnerships.status_code == 200, partnerships.text
    assert partnerships.json()["items"] == []
    # And nothing else is let in.
    refused = httpx.get(f"{server.url}/api/v1/cases", headers=bearer(strong_token()), timeout=5)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"


def stop_cleanly(server: Server) -> None:
    """SIGTERM ends the process on its own: the shutdown runs to its end, with no traceback,
    and the process then ends as the signal ends it (uvicorn raises it again once it has shut
    down, so a supervisor sees a stop by SIGTERM, which systemd counts as a clean one), or 0."""
    server.process.send_signal(signal.SIGTERM)
    code = server.process.wait(timeout=STOP_SECONDS)
    output = server.output()
    assert code in (0, -signal.SIGTERM), output
    assert "Traceback" not in output, output
    assert "Application shutdown complete" in output, output


def admins_created(server: Server) -> int:
    return server.output().count("bootstrap platform admin created")


@pytest.mark.parametrize("scheduler", ["true", "false"], ids=["scheduler-on", "scheduler-off"])
def test_the_first_start_with_the_bootstrap_token_serves_and_the_token_works(
    fresh_database: str, tmp_path: Path, scheduler: str
) -> None:
    migrate(fresh_database, tmp_path)
    token = strong_token()
    with stopped_at_exit() as keep:
        server = keep(
            serve(
                fresh_database,
                tmp_path,
                "first",
                CSPR_BOOTSTRAP_ADMIN_TOKEN=token,
                CSPR_SCHEDULER_ENABLED=scheduler,
                CSPR_SWEEP_SECONDS="1",
            )
        )
        assert_ready_and_authenticated(server, token)
        assert admins_created(server) == 1
        started = "scheduler started: sweep and delivery every 1s"
        if scheduler == "true":
            wait_until(lambda: started in server.output(), START_SECONDS, "the scheduler starts")
        else:
            time.sleep(1.5)  # more than a sweep interval: a scheduler would have said so
            assert started not in server.output()
        assert token not in server.output()  # the secret is never logged
        stop_cleanly(server)


def test_a_second_start_keeps_the_admin_and_ignores_another_bootstrap_token(
    fresh_database: str, tmp_path: Path
) -> None:
    migrate(fresh_database, tmp_path)
    first, second = strong_token(), strong_token()
    with stopped_at_exit() as keep:
        server = keep(serve(fresh_database, tmp_path, "one", CSPR_BOOTSTRAP_ADMIN_TOKEN=first))
        assert_ready_and_authenticated(server, first)
        stop_cleanly(server)

        again = keep(serve(fresh_database, tmp_path, "two", CSPR_BOOTSTRAP_ADMIN_TOKEN=second))
        assert_ready_and_authenticated(again, first)  # the admin and its token stand
        refused = httpx.get(f"{again.url}/api/v1/cases", headers=bearer(second), timeout=5)
        assert refused.status_code == 401, "a platform admin exists: no second one is made"
        assert admins_created(again) == 0
        stop_cleanly(again)


def test_two_processes_starting_together_make_one_admin(
    fresh_database: str, tmp_path: Path
) -> None:
    migrate(fresh_database, tmp_path)
    token = strong_token()
    with stopped_at_exit() as keep:
        servers = [
            keep(serve(fresh_database, tmp_path, name, CSPR_BOOTSTRAP_ADMIN_TOKEN=token))
            for name in ("a", "b")
        ]
        for server in servers:
            assert_ready_and_authenticated(server, token)
        assert sum(admins_created(s) for s in servers) == 1
        for server in servers:
            stop_cleanly(server)


def test_a_database_not_yet_migrated_is_refused_in_one_line(
    fresh_database: str, tmp_path: Path
) -> None:
    done = run_cli(
        fresh_database,
        tmp_path,
        "serve",
        "--port",
        str(free_port()),
        CSPR_BOOTSTRAP_ADMIN_TOKEN=strong_token(),
    )
    assert done.returncode == 3
    assert done.stderr.strip().splitlines() == [
        "error: refusing to start: the database is not at the latest schema "
        "(run `cspr-engine migrate` first)"
    ]


@pytest.mark.parametrize(
    ("left_out", "changed", "named"),
    [
        ("CSPR_COOKIE_SECURE", {}, "CSPR_COOKIE_SECURE must be true in production"),
        ("CSPR_PUBLIC_URL", {}, "CSPR_PUBLIC_URL must be set to the service's https:// address"),
        (None, {"CSPR_PUBLIC_URL": "http://cspr.example.org"}, "CSPR_PUBLIC_URL must be set"),
        (None, {"CSPR_BOOTSTRAP_ADMIN_TOKEN": "changeme"}, "CSPR_BOOTSTRAP_ADMIN_TOKEN must be"),
        (None, {"CSPR_PORT": "70000"}, "CSPR_PORT: Input should be less than or equal to 65535"),
    ],
    ids=["no-secure-cookie", "no-public-url", "http-public-url", "weak-token", "bad-port"],
)
def test_production_without_its_required_settings_refuses_in_one_line(
    fresh_database: str, tmp_path: Path, left_out: str | None, changed: dict[str, str], named: str
) -> None:
    migrate(fresh_database, tmp_path)
    settings = {k: v for k, v in PRODUCTION.items() if k != left_out}
    settings.update({"CSPR_BOOTSTRAP_ADMIN_TOKEN": strong_token(), **changed})
    port = free_port()
    done = run_cli(fresh_database, tmp_path, "serve", "--port", str(port), **settings)
    assert done.returncode == 3, done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: refusing to start: "), line
    assert named in line
    assert "Traceback" not in done.stdout + done.stderr
    with pytest.raises(httpx.TransportError):  # it never listened
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)


def test_production_with_its_required_settings_serves(fresh_database: str, tmp_path: Path) -> None:
    migrate(fresh_database, tmp_path)
    token = strong_token()
    with stopped_at_exit() as keep:
        server = keep(
            serve(
                fresh_database,
                tmp_path,
                "production",
                CSPR_BOOTSTRAP_ADMIN_TOKEN=token,
                **PRODUCTION,
            )
        )
        assert_ready_and_authenticated(server, token)
        # Production logs are JSON lines, one object each.
        lines = [line for line in server.stdout.read_text().splitlines() if line.strip()]
        lines += [line for line in server.stderr.read_text().splitlines() if line.strip()]
        assert lines
        records = [json.loads(line) for line in lines]
        assert any("bootstrap platform admin created" in r.get("message", "") for r in records)
        # Behind TLS: the session cookie is Secure and browsers are told to keep to HTTPS.
        page = httpx.get(f"{server.url}/ui/sign-in", timeout=5)
        assert page.headers["strict-transport-security"].startswith("max-age=")
        stop_cleanly(server)


@pytest.mark.skipif(
    os.environ.get("CSPR_TEST_DATABASE_URL", "").startswith("postgres"),
    reason="`make run` serves the embedded SQLite database; it runs in the SQLite suite",
)
def test_make_run_with_the_bootstrap_token_serves_at_its_first_start(tmp_path: Path) -> None:
    """The README's first command, as a new user types it, on a database that does not exist."""
    port, token = free_port(), strong_token()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CSPR_", "MAKE"))}
    env.update(
        CSPR_DATABASE_URL=f"sqlite:///{tmp_path / 'run.db'}",
        CSPR_PORT=str(port),
        CSPR_BOOTSTRAP_ADMIN_TOKEN=token,
        PYTHONUNBUFFERED="1",
    )
    out = tmp_path / "make-run.out"
    with out.open("wb") as sink:
        make = subprocess.Popen(
            ["make", "-s", "run"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: make and the server it runs
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert make.poll() is None, out.read_text()
            try:
                return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, START_SECONDS * 4, "`make run` serves")  # it may install first
        cases = httpx.get(f"{url}/api/v1/cases", headers=bearer(token), timeout=5)
        assert cases.status_code == 200, out.read_text()
        assert cases.json()["items"] == []
        printed = out.read_text()
        assert f"Web UI: {url}/ui" in printed  # where it serves, not a fixed port
        assert "Traceback" not in printed
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        try:
            make.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait(timeout=STOP_SECONDS)
    assert "Application shutdown complete" in out.read_text()
