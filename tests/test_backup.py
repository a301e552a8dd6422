"""Backup and restore (`cspr-engine admin backup` / `restore`) on the suite's database.

The backup is taken by a real `cspr-engine` process while another thread goes on writing
through the API; it is restored into a new, empty database (a new SQLite file, or a new
PostgreSQL database made and dropped here), and there every audit chain verifies, the chain
heads exported before the backup are found unchanged, the schema is at the latest revision and
the service answers as it did. The checks can fail: a tampered restored copy is named by
`verify-audit`, a rewritten chain by `check-audit-heads`; a restore refuses a database that
is not empty and a backup refuses to overwrite a file.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select

from cspr_engine import backup as backup_module
from cspr_engine import cli
from cspr_engine.audit.chain import compute_hash
from cspr_engine.audit.models import AuditEvent
from cspr_engine.config import get_settings
from cspr_engine.db import get_engine
from cspr_engine.kit.clock import FixedClock, get_clock
from cspr_engine.migrations import current_revision, head_revision
from cspr_engine.scheduler import jobs
from tests.factories import Api, referral

ROOT = Path(__file__).resolve().parents[1]
COMMAND_SECONDS = 60  # a backup, restore or check of this suite's data ends within this
WRITER_SECONDS = 90  # the writer thread stops by itself after this at the latest

RAPID_REVIEW = {
    "completed_on": "2026-06-15",
    "recommendation": "lcspr",
    "criteria": ["a", "b"],
    "rationale": "Reg 11 criteria met.",
}


# -- processes and databases ----------------------------------------------------------------


def _command() -> list[str]:
    for candidate in (Path(sys.executable).parent / "cspr-engine", ROOT / ".venv/bin/cspr-engine"):
        if candidate.exists():
            return [str(candidate)]
    return [sys.executable, "-m", "cspr_engine.cli"]


def run_cli(
    database_url: str, cwd: Path, *args: str, wait: bool = True
) -> subprocess.CompletedProcess[str]:
    """`cspr-engine *args` as its own process on the database at `database_url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSPR_")}
    env.update(
        CSPR_DATABASE_URL=database_url, CSPR_ENVIRONMENT="test", CSPR_SCHEDULER_ENABLED="false"
    )
    return subprocess.run(
        [*_command(), *args],
        env=env,
        cwd=cwd,  # no stray .env file is read
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        check=False,
    )


def run_here(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`cspr-engine *args` in this process (cheaper than a process for the read-only checks),
    with the settings pointed at `database_url`."""
    out, err = io.StringIO(), io.StringIO()
    with (
        service_configured_for(database_url),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = cli.main(list(args))
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


@contextmanager
def empty_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A new, empty database beside the suite's: a new SQLite file, or a new PostgreSQL
    database on the same server (dropped afterwards)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / f'restored-{uuid.uuid4().hex[:6]}.db'}"
        return
    url = make_url(database_url)
    name = f"cspr_restore_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(url.set(database="postgres"), hide_parameters=True)
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def service_configured_for(database_url: str) -> Iterator[None]:
    """The service's settings and engine pointed at another database for the block."""
    saved = os.environ["CSPR_DATABASE_URL"]
    get_engine().dispose()  # the suite's engine leaves the cache: its connections close now
    os.environ["CSPR_DATABASE_URL"] = database_url
    get_settings.cache_clear()
    get_engine.cache_clear()
    try:
        yield
    finally:
        get_engine().dispose()
        os.environ["CSPR_DATABASE_URL"] = saved
        get_settings.cache_clear()
        get_engine.cache_clear()


@contextmanager
def behind_the_service(database_url: str) -> Iterator[Any]:
    """Direct SQL on a database, as someone with database access would write it (on
    PostgreSQL with the append-only trigger switched off, as only a superuser could)."""
    engine = create_engine(database_url, hide_parameters=True)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SET LOCAL session_replication_role = replica"))
            yield conn
    finally:
        engine.dispose()


def heads_of(path: Path) -> dict[str, dict[str, Any]]:
    return {h["case_id"]: h for h in map(json.loads, path.read_text().splitlines())}


def figures(output: str) -> dict[str, str]:
    """The `  name: value` lines a backup or restore prints."""
    return {
        k.strip(): v.strip()
        for k, _, v in (line.partition(":") for line in output.splitlines() if line[:2] == "  ")
    }


# -- data -----------------------------------------------------------------------------------


def build_casework(api: Api, clock: FixedClock) -> dict[str, str]:
    """Cases in several states made through the API: transitions, the DSPs' votes, a clock
    extension, and a sweep that raised alerts. Returns their ids by name."""
    voted = api.create_case(who="chair")["id"]
    api.ok(voted, "notify_panel", {"notified_on": "2026-06-11"}, who="business")
    api.ok(voted, "complete_rapid_review", RAPID_REVIEW, who="chair")
    for who in ("dsp_la", "dsp_police", "dsp_health"):
        response = api.vote(voted, who, "agree", decided_on="2026-06-16")
        assert response.status_code == 200, response.text

    extended = api.create_case(who="chair")["id"]
    extension = api.client.post(
        f"/api/v1/cases/{extended}/deadlines/rapid_review/extensions",
        json={"new_due_on": "2026-07-15", "reason": "The health chronology is late."},
        headers=api.headers("chair"),
    )
    assert extension.status_code == 201, extension.text

    overdue = api.create_case(who="chair", became_aware_on="2026-06-09")["id"]
    # Its panel notification was due on the 16th: the sweep raises alerts about it.
    raised = jobs.sweep_deadlines(clock)
    alerts = api.client.get("/api/v1/alerts", headers=api.headers("chair")).json()["items"]
    assert raised >= 1
    assert ("deadline.breached", overdue) in {(a["type"], a["case_id"]) for a in alerts}, alerts
    return {"voted": voted, "extended": extended, "overdue": overdue}


@dataclass
class Writer:
    """A thread that goes on writing through the API (a new case, then its first transition,
    over and over; once, a transition on `touch`) until stopped."""

    api: Api
    touch: str
    writes: list[tuple[float, int]] = field(default_factory=list)  # (finished at, status)
    stop: threading.Event = field(default_factory=threading.Event)
    failure: list[BaseException] = field(default_factory=list)

    def _record(self, response: Any) -> None:
        self.writes.append((time.monotonic(), response.status_code))

    def run(self) -> None:
        give_up = time.monotonic() + WRITER_SECONDS
        try:
            while not self.stop.is_set() and time.monotonic() < give_up:
                response = self.api.client.post(
                    "/api/v1/cases",
                    json=referral(became_aware_on="2026-06-16"),
                    headers=self.api.headers("chair"),
                )
                self._record(response)
                if response.status_code == 201:
                    self._record(
                        self.api.fire(
                            response.json()["id"], "notify_panel", {"notified_on": "2026-06-17"}
                        )
                    )
                if len(self.writes) == 4:
                    self._record(
                        self.api.fire(self.touch, "notify_panel", {"notified_on": "2026-06-12"})
                    )
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.failure.append(exc)

    def count(self) -> int:
        return len(self.writes)

    def wait_for(self, n: int) -> None:
        give_up = time.monotonic() + 30
        while self.count() < n:
            assert not self.failure, self.failure
            assert time.monotonic() < give_up, f"the writer made {self.count()} of {n} writes"
            time.sleep(0.01)


# -- the tests ------------------------------------------------------------------------------


def test_an_online_backup_restores_into_an_empty_database_where_every_chain_verifies(
    api: Api, clock: FixedClock, database_url: str, tmp_path: Path
) -> None:
    ids = build_casework(api, clock)
    before = tmp_path / "heads-before.jsonl"
    assert cli.main(["admin", "export-audit-heads", "--output", str(before)]) == 0
    assert set(heads_of(before)) == set(ids.values())
    served = {name: api.get_case(case_id) for name, case_id in ids.items()}
    inbox = api.client.get("/api/v1/alerts", headers=api.headers("chair")).json()
    cases_before = len(heads_of(before))

    # The backup runs as its own process while the writer goes on.
    archive = tmp_path / "cspr.backup"
    writer = Writer(api, touch=ids["extended"])
    thread = threading.Thread(target=writer.run, daemon=True)
    thread.start()
    try:
        writer.wait_for(2)  # at least one case committed before the backup began
        started = time.monotonic()
        made = run_cli(database_url, tmp_path, "admin", "backup", str(archive))
        finished = time.monotonic()
        writer.wait_for(writer.count() + 3)  # and one after it ended (every 3 writes hold one)
    finally:
        writer.stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert not writer.failure, writer.failure
    assert made.returncode == 0, made.stderr
    statuses = {status for _, status in writer.writes}
    assert statuses <= {200, 201}, writer.writes
    during = [at for at, _ in writer.writes if started < at < finished]
    assert during, "no write finished while the backup ran"

    shown = figures(made.stdout)
    assert f"written to {archive}" in made.stdout
    assert shown["size"].endswith(f"({archive.stat().st_size} bytes)")
    assert shown["schema revision"] == head_revision()
    in_backup = int(shown["cases"])
    with get_engine().connect() as conn:
        cases_after = conn.execute(text("SELECT COUNT(*) FROM cases")).scalar_one()
    # The backup is one instant of a database that kept changing: after the writer's first
    # case, before its last.
    assert cases_before < in_backup < cases_after, (cases_before, in_backup, cases_after)
    after = tmp_path / "heads-after.jsonl"
    assert cli.main(["admin", "export-audit-heads", "--output", str(after)]) == 0

    with empty_database(database_url, tmp_path) as restored:
        done = run_cli(restored, tmp_path, "admin", "restore", str(archive))
        assert done.returncode == 0, done.stderr
        assert figures(done.stdout) == {
            "schema revision": head_revision(),
            "cases": str(in_backup),
            "audit events": shown["audit events"],
        }

        # Every chain in the backup verifies: no case caught half-written.
        verified = run_here(restored, "admin", "verify-audit")
        assert (verified.returncode, verified.stderr) == (0, ""), verified.stderr
        assert verified.stdout.strip() == f"audit chain intact: {in_backup} case(s)"

        # The heads exported before the backup: unchanged for the cases not written since,
        # and still in the chain (which has grown) for the case the writer touched.
        exported = run_here(restored, "admin", "export-audit-heads")
        assert exported.returncode == 0, exported.stderr
        restored_heads = {h["case_id"]: h for h in map(json.loads, exported.stdout.splitlines())}
        assert len(restored_heads) == in_backup
        old = heads_of(before)
        for name in ("voted", "overdue"):
            assert restored_heads[ids[name]] == old[ids[name]], name
        assert restored_heads[ids["extended"]]["seq"] >= old[ids["extended"]]["seq"]
        checked = run_here(restored, "admin", "check-audit-heads", str(before))
        assert checked.returncode == 0, checked.stderr
        assert checked.stdout.strip() == "3 of 3 exported head(s) found unchanged"

        # Heads exported after the backup name what it cannot hold: the writer's later cases.
        live = heads_of(after)
        missing = sorted(set(live) - set(restored_heads))
        assert len(missing) == cases_after - in_backup
        late = run_here(restored, "admin", "check-audit-heads", str(after))
        assert late.returncode == 1
        expected = []
        for case_id, head in live.items():
            name = f"audit head not found: case {head['case_reference']} ({case_id})"
            if case_id in missing:
                expected.append(f"{name}: not in this database (exported at event {head['seq']})")
            elif restored_heads[case_id]["seq"] < head["seq"]:
                # A case the backup caught before the writer's transition on it.
                expected.append(
                    f"{name}: its trail ends at event {restored_heads[case_id]['seq']}, "
                    f"before the exported head, event {head['seq']}"
                )
            else:
                assert restored_heads[case_id] == head
        assert sorted(late.stderr.splitlines()) == sorted(expected)
        found = len(live) - len(expected)
        assert late.stdout.strip() == f"{found} of {len(live)} exported head(s) found unchanged"

        # The restored database is at the latest schema and the service answers from it as
        # it did (the same clock, the same tokens: they were backed up too).
        with service_configured_for(restored):
            from cspr_engine.main import create_app

            assert current_revision(get_engine()) == head_revision()
            app = create_app()
            app.dependency_overrides[get_clock] = lambda: clock
            with TestClient(app) as client:
                for name in ("voted", "overdue"):
                    response = client.get(
                        f"/api/v1/cases/{ids[name]}", headers=api.headers("superuser")
                    )
                    assert response.status_code == 200, response.text
                    assert response.json() == served[name], name
                # The alerts the sweep raised, in the inbox as before.
                alerts = client.get("/api/v1/alerts", headers=api.headers("chair"))
                assert alerts.status_code == 200, alerts.text
                assert alerts.json() == inbox


def test_a_tampered_restored_copy_fails_the_checks(
    api: Api, clock: FixedClock, database_url: str, tmp_path: Path
) -> None:
    ids = build_casework(api, clock)
    before = tmp_path / "heads.jsonl"
    assert cli.main(["admin", "export-audit-heads", "--output", str(before)]) == 0
    archive = tmp_path / "cspr.backup"
    backup_module.backup(url=database_url, target=archive)
    with empty_database(database_url, tmp_path) as restored:
        backup_module.restore(url=restored, source=archive)
        with behind_the_service(restored) as conn:
            key = conn.execute(
                text("SELECT case_id FROM audit_events WHERE hash = :h"),
                {"h": heads_of(before)[ids["voted"]]["hash"]},
            ).scalar_one()
            conn.execute(
                text(
                    "UPDATE audit_events SET comment = 'rewritten' WHERE case_id = :c AND seq = 2"
                ),
                {"c": key},
            )
        broken = run_cli(restored, tmp_path, "admin", "verify-audit")
        assert (broken.returncode, broken.stdout) == (1, "")
        assert (
            f"case TW-2026-0001 ({ids['voted']}), event 2: its content does not match its hash"
            in broken.stderr
        )

        # A forger who recomputes every hash after the edit passes verify-audit; the heads
        # kept outside the database still catch the rewrite.
        with service_configured_for(restored), Session(get_engine()) as session:
            events = session.exec(
                select(AuditEvent)
                .where(col(AuditEvent.case_id) == uuid.UUID(ids["voted"]))
                .order_by(col(AuditEvent.seq))
            ).all()
            rewritten: list[tuple[int, str | None, str]] = []
            previous: str | None = None
            for event in events:
                event.prev_hash = previous
                previous = compute_hash(event)
                rewritten.append((event.seq, event.prev_hash, previous))
            session.rollback()
        with behind_the_service(restored) as conn:
            for seq, prev_hash, hash_ in rewritten:
                conn.execute(
                    text(
                        "UPDATE audit_events SET prev_hash = :p, hash = :h "
                        "WHERE case_id = :c AND seq = :s"
                    ),
                    {"p": prev_hash, "h": hash_, "c": key, "s": seq},
                )
        forged = run_here(restored, "admin", "verify-audit")
        assert forged.returncode == 0, forged.stderr
        caught = run_here(restored, "admin", "check-audit-heads", str(before))
        assert caught.returncode == 1
        assert caught.stdout.strip() == "2 of 3 exported head(s) found unchanged"
        assert caught.stderr.strip() == (
            f"audit head not found: case TW-2026-0001 ({ids['voted']}), "
            f"event {heads_of(before)[ids['voted']]['seq']}: "
            "its hash differs from the exported head"
        )


def _rows(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url, hide_parameters=True)
    try:
        with engine.connect() as conn:
            return {
                t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                for t in ("cases", "audit_events", "deadlines", "outbox_events")
            }
    finally:
        engine.dispose()


def test_a_restore_refuses_a_database_that_is_not_empty(
    api: Api,
    clock: FixedClock,
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    build_casework(api, clock)
    archive = tmp_path / "cspr.backup"
    backup_module.backup(url=database_url, target=archive)
    api.create_case(who="chair")  # the live database moves on
    live = _rows(database_url)
    assert live["cases"] == 4
    # The configured (suite's) database is not empty: nothing is restored over it.
    assert cli.main(["admin", "restore", str(archive)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("restore failed: the database ")
    assert "is not empty" in err
    assert _rows(database_url) == live
    # Not even a database with the schema and no rows.
    with empty_database(database_url, tmp_path) as target:
        with service_configured_for(target):
            from cspr_engine.migrations import upgrade_head

            upgrade_head(quiet=True)
        refused = run_cli(target, tmp_path, "admin", "restore", str(archive))
        assert refused.returncode == 1
        assert "is not empty" in refused.stderr
        assert _rows(target) == dict.fromkeys(live, 0)


def test_a_backup_never_overwrites_a_file(
    api: Api,
    clock: FixedClock,
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    build_casework(api, clock)
    existing = tmp_path / "cspr.backup"
    existing.write_bytes(b"an earlier backup")
    assert cli.main(["admin", "backup", str(existing)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == (
        f"backup failed: {existing} already exists: a backup never overwrites a file"
    )
    assert existing.read_bytes() == b"an earlier backup"
    # Nothing half-written is left beside it either.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cspr.backup"]


def test_a_backup_file_is_the_owners_alone_and_restores_with_the_same_figures(
    api: Api, clock: FixedClock, database_url: str, tmp_path: Path
) -> None:
    build_casework(api, clock)
    archive = tmp_path / "cspr.backup"
    made = backup_module.backup(url=database_url, target=archive)
    assert archive.stat().st_mode & 0o777 == 0o600
    assert made.size == archive.stat().st_size
    assert made.contents.revision == head_revision()
    assert (made.contents.cases, made.contents.audit_events) == (
        3,
        _rows(database_url)["audit_events"],
    )
    with empty_database(database_url, tmp_path) as target:
        assert backup_module.restore(url=target, source=archive).contents == made.contents


class TestToolConnection:
    def test_the_password_goes_in_the_environment_never_on_the_command_line(self) -> None:
        url = "postgresql+psycopg://cspr:s3cret-Pa55@db.internal:6543/cspr?sslmode=verify-full"
        connection = backup_module.tool_connection(url, environ={"PATH": "/usr/bin"})
        assert connection.args == [
            "--host",
            "db.internal",
            "--port",
            "6543",
            "--username",
            "cspr",
            "--dbname",
            "cspr",
            "--no-password",
        ]
        assert connection.env == {
            "PATH": "/usr/bin",
            "PGPASSWORD": "s3cret-Pa55",
            "PGSSLMODE": "verify-full",
        }
        assert "s3cret" not in backup_module.describe(url)

    def test_an_option_pg_dump_cannot_take_is_refused(self) -> None:
        with pytest.raises(backup_module.BackupError, match="'options' has no pg_dump"):
            backup_module.tool_connection("postgresql+psycopg://u@h/db?options=-c%20x%3Dy")

    def test_a_failing_pg_dump_reports_without_the_password(self, tmp_path: Path) -> None:
        # A port nothing listens on: libpq's own message, the password nowhere in it.
        url = "postgresql+psycopg://cspr:s3cret-Pa55@127.0.0.1:1/cspr"
        with pytest.raises(backup_module.BackupError) as raised:
            backup_module.backup(url=url, target=tmp_path / "x.backup")
        assert "s3cret" not in str(raised.value)
        assert list(tmp_path.iterdir()) == []
