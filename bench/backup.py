"""How long a backup, a restore and the audit checks take, on SQLite and PostgreSQL side by side.

Usage:
    .venv/bin/python bench/backup.py [--cases 10000] [--postgres-url URL | --no-postgres]

Each database (a fresh SQLite file in a temporary directory; a throwaway PostgreSQL database on
the server that --postgres-url or CSPR_BENCH_POSTGRES_URL names, default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres, dropped at the end, skipped with a
message if the server cannot be reached) is filled with --cases cases: one made by the
service (opened, the panel notified, the rapid review completed: three audit events and its
clocks), then copied --cases - 1 times under new ids and references, each copy's audit chain
hashed afresh, bulk-inserted. Then, timed:

  export heads   `admin export-audit-heads`, as at backup time;
  backup         `admin backup` (SQLite's online backup API; pg_dump --format=custom);
  restore        `admin restore` into a new, empty database (a file copy; pg_restore);
  verify-audit   `admin verify-audit` on the restored database (every case's chain);
  check heads    `admin check-audit-heads` against the heads exported before the backup.

The commands run in this process (no interpreter start-up in the figures); their output is
checked, not shown.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from cspr_engine import cli
from cspr_engine.accounts import service as accounts_service
from cspr_engine.audit.chain import compute_hash
from cspr_engine.audit.models import AuditEvent
from cspr_engine.backup import describe_size
from cspr_engine.cases import service as cases_service
from cspr_engine.cases.models import Case
from cspr_engine.deadlines.models import Deadline
from cspr_engine.kit.clock import london_date
from cspr_engine.workflow import service as workflow_service

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep import (
    DEFAULT_POSTGRES,
    bench_chair,
    bench_referral,
    postgres_database,
    postgres_reachable,
    release_database,
    use_database,
)

BATCH = 2_000


@dataclass
class Figures:
    cases: int = 0
    audit_events: int = 0
    clocks: int = 0
    load_s: float = 0.0
    database_bytes: int = 0
    heads_s: float = 0.0
    backup_s: float = 0.0
    backup_bytes: int = 0
    restore_s: float = 0.0
    verify_s: float = 0.0
    check_s: float = 0.0
    total_s: float = 0.0


# -- data -----------------------------------------------------------------------------------


def template_case(engine: Engine, now: datetime) -> uuid.UUID:
    """One case as the service makes it: opened, the panel notified, the rapid review done."""
    today = london_date(now)
    with Session(engine) as session:
        chair = bench_chair(session, now, roles=("panel_chair", "business_unit"))
        session.commit()
        actor = accounts_service.authenticate(session=session, secret=chair.secret, now=now)
        payload = bench_referral(today - timedelta(days=6), with_child=True)
        case = cases_service.create_case(session=session, payload=payload, actor=actor, now=now)
        steps: list[tuple[str, dict[str, Any]]] = [
            ("notify_panel", {"notified_on": (today - timedelta(days=5)).isoformat()}),
            (
                "complete_rapid_review",
                {
                    "completed_on": (today - timedelta(days=1)).isoformat(),
                    "recommendation": "no_lcspr",
                    "rationale": "Learning already in hand.",
                },
            ),
        ]
        for trigger, data in steps:
            workflow_service.fire(
                session=session,
                case=case,
                trigger=trigger,
                data=data,
                comment=None,
                actor=actor,
                now=now,
            )
        session.commit()
        return case.id


def _rows(engine: Engine, table: Any, case_id: uuid.UUID) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        query = select(table).where(table.c.case_id == case_id)
        return [dict(r) for r in conn.execute(query).mappings()]


def copies(engine: Engine, case_id: uuid.UUID, n: int) -> Iterator[dict[str, list[Any]]]:
    """Batches of copies of the template case: new ids and references, chains hashed afresh."""
    cases_table: Any = Case.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        case = dict(
            conn.execute(select(cases_table).where(cases_table.c.id == case_id)).mappings().one()
        )
    events = sorted(
        _rows(engine, AuditEvent.__table__, case_id),  # type: ignore[attr-defined]
        key=lambda e: e["seq"],
    )
    clocks = _rows(engine, Deadline.__table__, case_id)  # type: ignore[attr-defined]
    batch: dict[str, list[Any]] = {"cases": [], "audit_events": [], "deadlines": []}
    for i in range(n):
        new_id = uuid.uuid4()
        batch["cases"].append({**case, "id": new_id, "reference": f"BENCH-C{i:07d}"})
        previous: str | None = None
        for row in events:
            event = AuditEvent(**{**row, "id": uuid.uuid4(), "case_id": new_id})
            event.prev_hash = previous
            event.hash = previous = compute_hash(event)
            batch["audit_events"].append(event.model_dump())
        batch["deadlines"].extend({**c, "id": uuid.uuid4(), "case_id": new_id} for c in clocks)
        if len(batch["cases"]) == BATCH or i == n - 1:
            yield batch
            batch = {"cases": [], "audit_events": [], "deadlines": []}


def load(engine: Engine, cases: int, now: datetime) -> None:
    template = template_case(engine, now)
    tables = {
        "cases": Case.__table__,  # type: ignore[attr-defined]
        "audit_events": AuditEvent.__table__,  # type: ignore[attr-defined]
        "deadlines": Deadline.__table__,  # type: ignore[attr-defined]
    }
    for batch in copies(engine, template, cases - 1):
        with engine.begin() as conn:
            for name in ("cases", "audit_events", "deadlines"):
                conn.execute(tables[name].insert(), batch[name])
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))  # as autovacuum would after a load


def counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one())
            for t in ("cases", "audit_events", "deadlines")
        )


def database_bytes(engine: Engine, url: str) -> int:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            return int(
                conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
            )
    with engine.connect() as conn:  # the WAL's pages into the file, so its size counts them
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return Path(make_url(url).database or "").stat().st_size


# -- measuring ------------------------------------------------------------------------------


def command(*args: str, expect: str) -> float:
    """Seconds `cspr-engine *args` takes in this process; its output must contain `expect`."""
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    seconds = time.perf_counter() - started
    if code != 0 or expect not in out.getvalue():
        raise SystemExit(f"{' '.join(args)} failed ({code}): {err.getvalue()}{out.getvalue()}")
    return seconds


def run(url: str, restored_url: str, work: Path, cases: int) -> Figures:
    started = time.perf_counter()
    figures = Figures()
    engine = use_database(url)
    now = datetime.now(UTC).replace(microsecond=0)
    load_started = time.perf_counter()
    load(engine, cases, now)
    figures.load_s = time.perf_counter() - load_started
    figures.cases, figures.audit_events, figures.clocks = counts(engine)
    figures.database_bytes = database_bytes(engine, url)

    heads, archive = work / "heads.jsonl", work / "cspr.backup"
    expected = f"wrote {figures.cases} chain head(s)"
    figures.heads_s = command(
        "admin", "export-audit-heads", "--output", str(heads), expect=expected
    )
    figures.backup_s = command(
        "admin", "backup", str(archive), expect=f"  cases: {figures.cases}\n"
    )
    figures.backup_bytes = archive.stat().st_size
    release_database()

    # The restore goes into a database the service has never touched (no migration first).
    os.environ["CSPR_DATABASE_URL"] = restored_url
    figures.restore_s = command(
        "admin", "restore", str(archive), expect=f"  audit events: {figures.audit_events}\n"
    )
    figures.verify_s = command(
        "admin", "verify-audit", expect=f"audit chain intact: {figures.cases} case(s)"
    )
    figures.check_s = command(
        "admin",
        "check-audit-heads",
        str(heads),
        expect=f"{figures.cases} of {figures.cases} exported head(s) found unchanged",
    )
    release_database()
    figures.total_s = time.perf_counter() - started
    return figures


# -- report ---------------------------------------------------------------------------------


def report(results: dict[str, Figures]) -> None:
    names = list(results)

    def line(label: str, value: Callable[[Figures], str]) -> None:
        print(f"{label:<34}" + "".join(f"{value(results[n]):>22}" for n in names))

    print()
    print(f"{'':<34}" + "".join(f"{n:>22}" for n in names))
    line("cases", lambda f: f"{f.cases:,}")
    line("audit events", lambda f: f"{f.audit_events:,}")
    line("clocks", lambda f: f"{f.clocks:,}")
    line("database size", lambda f: describe_size(f.database_bytes).split(" (")[0])
    line("export-audit-heads", lambda f: f"{f.heads_s:.2f} s")
    line("backup", lambda f: f"{f.backup_s:.2f} s")
    line("backup file size", lambda f: describe_size(f.backup_bytes).split(" (")[0])
    line("restore (into an empty database)", lambda f: f"{f.restore_s:.2f} s")
    line("verify-audit (restored)", lambda f: f"{f.verify_s:.2f} s")
    line("check-audit-heads (restored)", lambda f: f"{f.check_s:.2f} s")
    line(
        "restore + verify + check",
        lambda f: f"{f.restore_s + f.verify_s + f.check_s:.2f} s",
    )
    line("setup: bulk load", lambda f: f"{f.load_s:.2f} s")
    line("wall time (this database)", lambda f: f"{f.total_s:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument(
        "--postgres-url", default=os.environ.get("CSPR_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    if args.cases < 1:
        parser.error("--cases must be at least 1")
    os.environ["CSPR_SCHEDULER_ENABLED"] = "false"

    results: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory(prefix="cspr-bench-") as tmp:
        work = Path(tmp)
        print(f"SQLite: {args.cases:,} cases in a temporary file ...", flush=True)
        (work / "sqlite").mkdir()
        results["SQLite"] = run(
            f"sqlite:///{work}/live.db",
            f"sqlite:///{work}/restored.db",
            work / "sqlite",
            args.cases,
        )
        if args.no_postgres:
            print("PostgreSQL: skipped (--no-postgres)")
        elif (why := postgres_reachable(args.postgres_url)) is not None:
            shown = make_url(args.postgres_url).render_as_string(hide_password=True)
            print(f"PostgreSQL: skipped, {shown} is not reachable ({why})")
        else:
            print(f"PostgreSQL: {args.cases:,} cases in a throwaway database ...", flush=True)
            (work / "postgres").mkdir()
            with (
                postgres_database(args.postgres_url) as live,
                postgres_database(args.postgres_url) as restored,
            ):
                results["PostgreSQL"] = run(live, restored, work / "postgres", args.cases)
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
