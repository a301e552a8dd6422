"""How long the deadline sweep takes, on SQLite and PostgreSQL side by side.

Usage:
    make bench
    .venv/bin/python bench/sweep.py [--rungs 10000] [--open 100000] [--due 100] [--repeat 5]
                                    [--postgres-url URL | --no-postgres]
    .venv/bin/python bench/sweep.py --scaling [--scale-open 10000,100000,1000000]
                                    [--scale-due 100,1000,10000] [--due 100] [--repeat 3]

Figures, each measured on a fresh SQLite file (in a temporary directory) and on a throwaway
PostgreSQL database (created on the server that --postgres-url or CSPR_BENCH_POSTGRES_URL
names, default postgresql+psycopg://postgres@127.0.0.1:5432/postgres, and dropped at the end;
skipped with a message if the server cannot be reached):

  (i)  the sweep (scheduler.jobs.sweep_deadlines, batches of 500, one commit each) over
       --rungs clocks that all have a rung due at once: every one writes an alert, its inbox
       entries and a delivery to one webhook subscription;
  (ii) the sweep over --due clocks that are due among --due clocks in all, then among --open
       clocks in all (the others due months ahead): the median of --repeat sweeps each, their
       ratio, and the claim query alone. The ratio should be close to 1: the claim query reads
       the partial index on deadlines.next_rung_at, so it touches the due rows only.

With --scaling, a table instead: the sweep time (median of --repeat sweeps; one sweep for
10,000 due rungs and more) against the number of open clocks (--scale-open, at --due due
rungs) and against the number of due rungs (--scale-due, among the largest --scale-open open
clocks), with the time per due rung. Cost that follows due rungs, not open clocks, shows as a
flat first table and a constant time per rung in the second.

Then the plan of the claim query over --open clocks: EXPLAIN (PostgreSQL) and EXPLAIN QUERY
PLAN (SQLite). Rows are bulk-inserted (executemany; COPY on PostgreSQL) under a handful of
cases made by the service; PostgreSQL tables are ANALYZEd after each load, as autovacuum would.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, delete, event, text, update
from sqlalchemy.engine import make_url
from sqlmodel import Session, col

from cspr_engine.accounts import service as accounts_service
from cspr_engine.accounts.models import Partnership, User
from cspr_engine.alerts.models import AlertRecipient, Delivery, OutboxEvent, WebhookSubscription
from cspr_engine.cases import service as cases_service
from cspr_engine.cases.schemas import CaseCreate
from cspr_engine.config import get_settings
from cspr_engine.db import get_engine, writer_bind
from cspr_engine.deadlines import service as deadline_service
from cspr_engine.deadlines.calendar import WorkingCalendar
from cspr_engine.deadlines.models import Deadline
from cspr_engine.kit.clock import FixedClock, london_date
from cspr_engine.migrations import upgrade_head
from cspr_engine.scheduler import jobs
from cspr_engine.workflow import service as workflow_service
from cspr_engine.workflow.definitions import WorkflowDefinition

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CASES = 200
KEYS = ("panel_notification", "rapid_review", "delay_notice", "lcspr_completion")
COLUMNS = (
    "id",
    "case_id",
    "partnership_id",
    "key",
    "sequence",
    "kind",
    "status",
    "starts_on",
    "due_on",
    "due_at",
    "rungs_fired",
    "next_rung_at",
    "calendar_version",
    "created_at",
    "updated_at",
)


@dataclass
class Figures:
    insert_rungs_s: float = 0.0
    sweep_rungs_s: float = 0.0
    alerts: int = 0
    insert_open_s: float = 0.0
    sweep_small_s: float = 0.0
    sweep_large_s: float = 0.0
    claim_small_ms: float = 0.0
    claim_large_ms: float = 0.0
    plan: list[str] = field(default_factory=list)
    index_used: bool = False
    total_s: float = 0.0


# -- the database under test --------------------------------------------------------------


def use_database(url: str) -> Engine:
    """Point the engine at `url` (the settings and engine are cached) and migrate it."""
    os.environ["CSPR_DATABASE_URL"] = url
    get_settings.cache_clear()
    get_engine.cache_clear()
    upgrade_head(quiet=True)
    return get_engine()


def release_database() -> None:
    get_engine().dispose()
    get_engine.cache_clear()
    get_settings.cache_clear()


@contextmanager
def postgres_database(base_url: str) -> Iterator[str]:
    """A throwaway database on the server `base_url` names, dropped afterwards."""
    url = make_url(base_url).set(drivername="postgresql+psycopg")
    name = f"cspr_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            release_database()
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def kept_postgres_database(base_url: str, name: str, *, recreate: bool = False) -> str:
    """The URL of database `name` on the server `base_url` names, created if it is missing
    (dropped and created again with `recreate`); it is left in place afterwards."""
    url = make_url(base_url).set(drivername="postgresql+psycopg")
    admin = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if recreate:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if exists is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def postgres_reachable(base_url: str) -> str | None:
    """None if we can connect, else why not."""
    url = make_url(base_url).set(drivername="postgresql+psycopg")
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
    finally:
        engine.dispose()


T = TypeVar("T")


def on_each_database(args: argparse.Namespace, run: Callable[[str, Path], T]) -> dict[str, T]:
    """`run(url, workdir)` on a temporary SQLite file, then (unless --no-postgres, or the
    server --postgres-url names cannot be reached) on a throwaway PostgreSQL database."""
    results: dict[str, T] = {}
    with tempfile.TemporaryDirectory(prefix="cspr-bench-") as tmp:
        print("SQLite: a temporary file ...", flush=True)
        results["SQLite"] = run(f"sqlite:///{tmp}/bench.db", Path(tmp))
        if args.no_postgres:
            print("PostgreSQL: skipped (--no-postgres)")
        elif (why := postgres_reachable(args.postgres_url)) is not None:
            shown = make_url(args.postgres_url).render_as_string(hide_password=True)
            print(f"PostgreSQL: skipped, {shown} is not reachable ({why})")
        else:
            print("PostgreSQL: a throwaway database ...", flush=True)
            with postgres_database(args.postgres_url) as url:
                results["PostgreSQL"] = run(url, Path(tmp))
    return results


@dataclass
class Chair:
    """The benchmarks' partnership and the chair who acts in it, with an API token."""

    partnership: Partnership
    user: User
    token_id: uuid.UUID
    secret: str


def bench_chair(
    session: Session, now: datetime, roles: tuple[str, ...] = ("panel_chair",)
) -> Chair:
    """The BENCH partnership and its chair (`roles`), made as an admin would make them."""
    partnership = accounts_service.create_partnership(
        session=session, code="BENCH", name="Bench Partnership", now=now
    )
    user = accounts_service.create_user(
        session=session,
        email="chair@bench.example",
        display_name="Chair",
        partnership=partnership,
        roles=list(roles),
        agency=None,
        now=now,
    )
    token, secret = accounts_service.create_token(session=session, user=user, name="b", now=now)
    return Chair(partnership=partnership, user=user, token_id=token.id, secret=secret)


def bench_referral(became_aware_on: date, *, with_child: bool = False) -> CaseCreate:
    """The referral every bench opens: serious harm, physical abuse suspected, the incident the
    day before the local authority became aware of it."""
    body: dict[str, Any] = {
        "became_aware_on": became_aware_on.isoformat(),
        "referring_agency": "police",
        "incident": {
            "occurred_on": (became_aware_on - timedelta(days=1)).isoformat(),
            "outcome": "serious_harm",
            "abuse_or_neglect": "suspected",
            "categories": ["physical_abuse"],
        },
    }
    if with_child:
        body["child"] = {"age_years": 2, "sex": "female", "legal_status": "cp_plan"}
    return CaseCreate.model_validate(body)


def never_called_subscription(partnership_id: uuid.UUID, now: datetime) -> WebhookSubscription:
    """A subscription to every event at an address nothing listens on: each alert gets its
    delivery row, as in service, and no bench waits on a receiver."""
    return WebhookSubscription(
        partnership_id=partnership_id,
        url="http://127.0.0.1:9/never-called",
        events=["*"],
        secret="bench-secret-0123456789",
        created_at=now,
    )


# -- data -----------------------------------------------------------------------------------


@dataclass
class World:
    cases: list[tuple[uuid.UUID, uuid.UUID]]  # (case id, partnership id)
    definition: WorkflowDefinition
    calendar: WorkingCalendar
    now: datetime


def make_world(engine: Engine, now: datetime) -> World:
    """A partnership with one webhook subscription and CASES cases made by the service; the
    cases' own clocks and alerts are removed, so only the bench's rows count."""
    with Session(engine) as session:
        chair = bench_chair(session, now)
        partnership = chair.partnership
        session.add(never_called_subscription(partnership.id, now))
        session.commit()
        actor = accounts_service.authenticate(session=session, secret=chair.secret, now=now)
        payload = bench_referral(london_date(now) - timedelta(days=30))
        cases = []
        for _ in range(CASES):
            case = cases_service.create_case(session=session, payload=payload, actor=actor, now=now)
            cases.append((case.id, partnership.id))
        definition = workflow_service.definition_for(case)
        session.commit()
        calendar = deadline_service.current_calendar(session)
    clear(engine, deadlines=True)
    return World(cases=cases, definition=definition, calendar=calendar, now=now)


def clear(engine: Engine, *, deadlines: bool) -> None:
    with engine.begin() as conn:
        conn.execute(delete(Delivery))
        conn.execute(delete(AlertRecipient))
        conn.execute(delete(OutboxEvent))
        if deadlines:
            conn.execute(delete(Deadline))


class Rows:
    """Deadline rows, as tuples in COLUMNS order."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.sequence = 0
        self._instants: dict[tuple[int, date], datetime] = {}

    def instant(self, rung: int, due_on: date) -> datetime:
        key = (rung, due_on)
        if key not in self._instants:
            rungs = self.world.definition.escalation
            self._instants[key] = deadline_service.rung_instant(
                rungs[rung], due_on, self.world.calendar
            )
        return self._instants[key]

    def row(self, due_on: date, next_rung_at: datetime) -> tuple[Any, ...]:
        world = self.world
        self.sequence += 1
        case_id, partnership_id = world.cases[self.sequence % len(world.cases)]
        key = KEYS[self.sequence % len(KEYS)]
        created = world.now - timedelta(days=40)
        return (
            uuid.uuid4(),
            case_id,
            partnership_id,
            key,
            self.sequence,
            world.definition.clocks[key].kind,
            "pending",
            due_on - timedelta(days=21),
            due_on,
            deadline_service.end_of_day(due_on),
            0,
            next_rung_at,
            world.calendar.version,
            created,
            created,
        )

    def due(self, n: int) -> list[tuple[Any, ...]]:
        """Clocks past every rung of the ladder (the last one fires)."""
        today = london_date(self.world.now)
        out = []
        for i in range(n):
            due_on = self.world.calendar.subtract_working_days(today, 10 + i % 20)
            out.append(self.row(due_on, self.instant(0, due_on)))
        return out

    def ahead(self, n: int) -> list[tuple[Any, ...]]:
        """Open clocks whose first rung is days to months away."""
        today = london_date(self.world.now)
        days = {k: self.world.calendar.add_working_days(today, 5 + k) for k in range(250)}
        return [self.row(days[i % 250], self.instant(0, days[i % 250])) for i in range(n)]


def insert(engine: Engine, rows: list[tuple[Any, ...]]) -> float:
    started = time.perf_counter()
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            raw: Any = conn.connection.driver_connection
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY deadlines ({', '.join(COLUMNS)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            conn.exec_driver_sql("ANALYZE deadlines")
    else:
        table = Deadline.__table__  # type: ignore[attr-defined]
        with engine.begin() as conn:
            for start in range(0, len(rows), 10_000):
                batch = rows[start : start + 10_000]
                conn.execute(table.insert(), [dict(zip(COLUMNS, r, strict=True)) for r in batch])
    return time.perf_counter() - started


def rearm(engine: Engine, ids: list[uuid.UUID], world: World) -> None:
    """Put the due clocks back as they were before a sweep, and drop the alerts it wrote."""
    clear(engine, deadlines=False)
    with engine.begin() as conn:
        conn.execute(
            update(Deadline)
            .where(col(Deadline.id).in_(ids))
            .values(
                status="pending",
                rungs_fired=0,
                breached_at=None,
                next_rung_at=world.now - timedelta(days=20),
            )
        )


# -- measuring ------------------------------------------------------------------------------


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def claim_ms(engine: Engine, now: datetime, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        with Session(writer_bind(engine)) as session:
            started = time.perf_counter()
            deadline_service.claim_due(session, now, 500)
            times.append((time.perf_counter() - started) * 1000)
            session.rollback()
    return statistics.median(times)


def sweep_median(engine: Engine, world: World, ids: list[uuid.UUID], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        rearm(engine, ids, world)
        seconds, alerts = timed(lambda: jobs.sweep_deadlines(FixedClock(world.now)))
        assert alerts == len(ids), f"expected {len(ids)} alerts, the sweep wrote {alerts}"
        times.append(seconds)
    return statistics.median(times)


def explain(engine: Engine, now: datetime) -> list[str]:
    """The plan of the claim query exactly as the sweep sends it (captured on its way out)."""
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM deadlines" in statement and not captured:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with Session(writer_bind(engine)) as session:
            deadline_service.claim_due(session, now, 500)
            session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = captured[0]
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            result = conn.exec_driver_sql("EXPLAIN " + statement, parameters)
            return [r[0] for r in result]
        result = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        return [str(r[-1]) for r in result]


def run(url: str, args: argparse.Namespace) -> Figures:
    started = time.perf_counter()
    figures = Figures()
    engine = use_database(url)
    now = datetime.now(UTC).replace(microsecond=0)
    world = make_world(engine, now)
    rows = Rows(world)

    # (i) a backlog: every clock has a rung due at once.
    figures.insert_rungs_s = insert(engine, rows.due(args.rungs))
    figures.sweep_rungs_s, figures.alerts = timed(lambda: jobs.sweep_deadlines(FixedClock(now)))
    assert figures.alerts == args.rungs, f"{figures.alerts} alerts for {args.rungs} rungs"
    clear(engine, deadlines=True)

    # (ii) the same few due clocks alone, then among many open ones.
    due = rows.due(args.due)
    ids = [r[0] for r in due]
    insert(engine, due)
    figures.sweep_small_s = sweep_median(engine, world, ids, args.repeat)
    rearm(engine, ids, world)
    figures.claim_small_ms = claim_ms(engine, now, args.repeat)
    figures.insert_open_s = insert(engine, rows.ahead(args.open - args.due))
    figures.sweep_large_s = sweep_median(engine, world, ids, args.repeat)
    rearm(engine, ids, world)
    figures.claim_large_ms = claim_ms(engine, now, args.repeat)
    figures.plan = explain(engine, now)
    figures.index_used = any("ix_deadlines_next_rung_at" in line for line in figures.plan)
    release_database()
    figures.total_s = time.perf_counter() - started
    return figures


@dataclass
class Scaling:
    by_open: list[tuple[int, float]] = field(default_factory=list)  # (open clocks, seconds)
    by_due: list[tuple[int, float]] = field(default_factory=list)  # (due rungs, seconds)
    fixed_open: int = 0
    load_s: float = 0.0
    total_s: float = 0.0


def run_scaling(url: str, args: argparse.Namespace) -> Scaling:
    """The sweep over --due due clocks among more and more open ones, then over more and more
    due clocks among the most open ones."""
    started = time.perf_counter()
    figures = Scaling()
    engine = use_database(url)
    now = datetime.now(UTC).replace(microsecond=0)
    world = make_world(engine, now)
    rows = Rows(world)

    def repeats(due: int) -> int:
        return args.repeat if due < 10_000 else 1

    due = rows.due(args.due)
    ids = [r[0] for r in due]
    insert(engine, due)
    total = args.due
    for open_clocks in args.scale_open:
        print(f"  {open_clocks:,} open clocks ...", flush=True)
        figures.load_s += insert(engine, rows.ahead(open_clocks - total))
        total = open_clocks
        figures.by_open.append((open_clocks, sweep_median(engine, world, ids, repeats(args.due))))
    figures.fixed_open = total
    rearm(engine, ids, world)
    for count in args.scale_due:
        print(f"  {count:,} due rungs among {total:,} open clocks ...", flush=True)
        due = rows.due(count)
        more = [r[0] for r in due]
        with engine.begin() as conn:
            conn.execute(delete(Deadline).where(col(Deadline.id).in_(ids)))
            # The ahead clocks these replace keep the total at `total`.
            conn.execute(
                delete(Deadline).where(
                    col(Deadline.id).in_(
                        conn.execute(
                            Deadline.__table__.select()  # type: ignore[attr-defined]
                            .with_only_columns(Deadline.__table__.c.id)  # type: ignore[attr-defined]
                            .where(Deadline.__table__.c.next_rung_at > now)  # type: ignore[attr-defined]
                            .limit(max(0, count - len(ids)))
                        )
                        .scalars()
                        .all()
                    )
                )
            )
        figures.load_s += insert(engine, due)
        ids = more
        figures.by_due.append((count, sweep_median(engine, world, ids, repeats(count))))
    clear(engine, deadlines=True)
    release_database()
    figures.total_s = time.perf_counter() - started
    return figures


def report_scaling(results: dict[str, Scaling], args: argparse.Namespace) -> None:
    names = list(results)
    print(f"\nSweep of {args.due} due rungs against open clocks (median of {args.repeat})")
    print(f"{'open clocks':>14}" + "".join(f"{n:>14}" for n in names))
    for i, open_clocks in enumerate(args.scale_open):
        cells = "".join(f"{1000 * results[n].by_open[i][1]:>11.0f} ms" for n in names)
        print(f"{open_clocks:>14,}" + cells)
    fixed = {results[n].fixed_open for n in names}
    print(f"\nSweep against due rungs among {', '.join(f'{f:,}' for f in fixed)} open clocks")
    print(f"{'due rungs':>14}" + "".join(f"{n + ' s':>14}{'ms/rung':>10}" for n in names))
    for i, count in enumerate(args.scale_due):
        cells = "".join(
            f"{results[n].by_due[i][1]:>14.2f}{1000 * results[n].by_due[i][1] / count:>10.2f}"
            for n in names
        )
        print(f"{count:>14,}" + cells)
    for n in names:
        print(
            f"\n{n}: bulk loading {results[n].load_s:.1f} s, wall time {results[n].total_s:.1f} s"
        )
    print(f"Load average when done: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


# -- report ---------------------------------------------------------------------------------


def report(results: dict[str, Figures], args: argparse.Namespace) -> None:
    names = list(results)

    def line(label: str, value: Callable[[Figures], str]) -> None:
        print(f"{label:<44}" + "".join(f"{value(results[n]):>14}" for n in names))

    print()
    print(f"{'':<44}" + "".join(f"{n:>14}" for n in names))
    line(f"(i)  sweep {args.rungs:,} rungs due at once", lambda f: f"{f.sweep_rungs_s:.2f} s")
    line("       per rung", lambda f: f"{1000 * f.sweep_rungs_s / args.rungs:.2f} ms")
    line("       alerts written", lambda f: f"{f.alerts:,}")
    line(
        f"(ii) sweep {args.due} due of {args.due:,} clocks",
        lambda f: f"{1000 * f.sweep_small_s:.0f} ms",
    )
    line(
        f"     sweep {args.due} due of {args.open:,} clocks",
        lambda f: f"{1000 * f.sweep_large_s:.0f} ms",
    )
    line("     ratio (many / few)", lambda f: f"{f.sweep_large_s / f.sweep_small_s:.2f}")
    line(f"     claim query, {args.due:,} clocks", lambda f: f"{f.claim_small_ms:.1f} ms")
    line(f"     claim query, {args.open:,} clocks", lambda f: f"{f.claim_large_ms:.1f} ms")
    line("     claim query ratio", lambda f: f"{f.claim_large_ms / f.claim_small_ms:.2f}")
    line("     index on next_rung_at used", lambda f: "yes" if f.index_used else "NO")
    line(f"setup: bulk insert {args.rungs:,} rows", lambda f: f"{f.insert_rungs_s:.2f} s")
    line(
        f"setup: bulk insert {args.open - args.due:,} rows",
        lambda f: f"{f.insert_open_s:.2f} s",
    )
    line("wall time (this database)", lambda f: f"{f.total_s:.1f} s")
    print(f"\n(ii) is the median of {args.repeat} sweeps each; claim query = claim_due() alone.")
    for name in names:
        keyword = "EXPLAIN" if name == "PostgreSQL" else "EXPLAIN QUERY PLAN"
        print(f"\n{name}: {keyword} of the claim query over {args.open:,} clocks")
        for plan_line in results[name].plan:
            print(f"  {plan_line}")


def counts(text: str) -> list[int]:
    return sorted(int(part.replace("_", "")) for part in text.split(",") if part.strip())


def main_scaling(args: argparse.Namespace) -> int:
    os.environ.pop("CSPR_SMTP_HOST", None)
    if args.due > args.scale_open[0]:
        raise SystemExit("--due cannot exceed the smallest --scale-open")
    results = on_each_database(args, lambda url, _work: run_scaling(url, args))
    report_scaling(results, args)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rungs", type=int, default=10_000)
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--postgres-url", default=os.environ.get("CSPR_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--scaling", action="store_true", help="the scaling tables instead")
    parser.add_argument("--scale-open", type=counts, default=counts("10000,100000,1000000"))
    parser.add_argument("--scale-due", type=counts, default=counts("100,1000,10000"))
    args = parser.parse_args(argv)
    if args.scaling:
        return main_scaling(args)
    if args.due > args.open:
        parser.error("--due cannot exceed --open")
    os.environ.pop("CSPR_SMTP_HOST", None)  # webhooks only: e-mail deliveries need a server

    results = on_each_database(args, lambda url, _work: run(url, args))
    report(results, args)
    return 0 if all(f.index_used for f in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
