"""Transitions per second through the HTTP API next to a raw-SQL baseline, on SQLite and
PostgreSQL side by side.

Usage:
    .venv/bin/python bench/transition_rate.py [--transitions 300]
                                              [--postgres-url URL | --no-postgres]

Each database (a fresh SQLite file in a temporary directory; a throwaway PostgreSQL database on
the server that --postgres-url or CSPR_BENCH_POSTGRES_URL names, default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres, dropped at the end; see bench/sweep.py)
gets a partnership with one webhook subscription, a panel chair with an API token, and fresh
cases made by the service (state `referred`, their clocks running). Then, at concurrency 1
and 8 (threads, each on its own cases), --transitions transitions each way:

  HTTP  POST /api/v1/cases/{id}/transitions {"trigger": "notify_panel"} with a bearer token,
        to a real `cspr-engine serve` (scheduler off, log level WARNING) on 127.0.0.1;
  raw   the same writes in one transaction with SQLAlchemy Core (no ORM): the case UPDATE with
        the version compare-and-set, the panel_notification clock UPDATE (met), the outbox
        event INSERT and its webhook delivery INSERT, the previous audit hash SELECT and the
        audit event INSERT with its hash chain fields, and the access log INSERT (every
        request that changes a case writes one, in the same transaction).

Printed: both rates and the ratio HTTP / raw per database and concurrency (target >= 50%).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, Table, func, insert, select, update
from sqlmodel import Session

from cspr_engine.accounts import service as accounts_service
from cspr_engine.alerts.models import Delivery, OutboxEvent
from cspr_engine.audit import chain
from cspr_engine.audit.models import AccessEvent, AuditEvent
from cspr_engine.cases import service as cases_service
from cspr_engine.cases.models import Case
from cspr_engine.db import writer_bind
from cspr_engine.deadlines.models import Deadline
from cspr_engine.kit.clock import london_date

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep import (
    DEFAULT_POSTGRES,
    bench_chair,
    bench_referral,
    never_called_subscription,
    on_each_database,
    release_database,
    use_database,
)

ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = (1, 8)
TRIGGER = "notify_panel"
BASIS = "Children Act 2004 s.16C(1) (D1); report to the safeguarding partners (D2)"
START_SECONDS = 30
STOP_SECONDS = 15
REQUEST_SECONDS = 30


@dataclass
class World:
    partnership_id: uuid.UUID
    partnership_code: str
    user_id: uuid.UUID
    subscription_id: uuid.UUID
    token: str
    token_id: uuid.UUID
    cases: list[tuple[uuid.UUID, str]]  # (id, reference), all `referred` at version 1
    today: date


@dataclass
class Figures:
    rates: dict[tuple[str, int], float] = field(default_factory=dict)  # (way, concurrency)
    setup_s: float = 0.0


def table(model: Any) -> Table:
    return model.__table__  # type: ignore[no-any-return]


# -- data -----------------------------------------------------------------------------------


def make_world(engine: Engine, now: datetime, count: int) -> World:
    today = london_date(now)
    with Session(engine) as session:
        chair = bench_chair(session, now)
        partnership, user, secret = chair.partnership, chair.user, chair.secret
        subscription = never_called_subscription(partnership.id, now)
        session.add(subscription)
        session.commit()
        actor = accounts_service.authenticate(session=session, secret=secret, now=now)
        payload = bench_referral(today - timedelta(days=2))
        cases = []
        for i in range(count):
            case = cases_service.create_case(session=session, payload=payload, actor=actor, now=now)
            cases.append((case.id, case.reference))
            if i % 200 == 199:
                session.commit()
        session.commit()
        return World(
            partnership_id=partnership.id,
            partnership_code=partnership.code,
            user_id=user.id,
            subscription_id=subscription.id,
            token=secret,
            token_id=chair.token_id,
            cases=cases,
            today=today,
        )


# -- the two ways ---------------------------------------------------------------------------


def http_transition(client: httpx.Client, world: World, case_id: uuid.UUID) -> None:
    response = client.post(
        f"/api/v1/cases/{case_id}/transitions",
        json={"trigger": TRIGGER, "data": {"notified_on": world.today.isoformat()}},
    )
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")


def raw_transition(engine: Engine, world: World, case_id: uuid.UUID, reference: str) -> None:
    """The writes of one notify_panel transition, in one transaction, with Core statements."""
    now = datetime.now(UTC)
    version = 2
    data = {"notified_on": world.today.isoformat()}
    with engine.begin() as conn:
        result = conn.execute(
            update(table(Case))
            .where(table(Case).c.id == case_id, table(Case).c.version == version - 1)
            .values(
                version=version,
                state="rapid_review",
                state_entered_version=version,
                state_entered_at=now,
                recorded={TRIGGER: data},
                updated_at=now,
            )
        )
        if result.rowcount != 1:
            raise RuntimeError(f"case {case_id}: the version compare-and-set matched no row")
        conn.execute(
            update(table(Deadline))
            .where(
                table(Deadline).c.case_id == case_id,
                table(Deadline).c.key == "panel_notification",
                table(Deadline).c.status.in_(("pending", "breached")),
            )
            .values(status="met", met_on=world.today, met_at=now, next_rung_at=None, updated_at=now)
        )
        event_id = uuid.uuid4()
        conn.execute(
            insert(table(OutboxEvent)).values(
                id=event_id,
                dedupe_key=f"case:{case_id}:v{version}",
                type="case.transitioned",
                partnership_id=world.partnership_id,
                case_id=case_id,
                payload={
                    "id": str(event_id),
                    "type": "case.transitioned",
                    "occurred_at": now.isoformat(),
                    "partnership": world.partnership_code,
                    "case_id": str(case_id),
                    "case_reference": reference,
                    "data": {
                        "trigger": TRIGGER,
                        "from_state": "referred",
                        "to_state": "rapid_review",
                        "version": version,
                        "recipients": [],
                    },
                },
                occurred_at=now,
            )
        )
        conn.execute(
            insert(table(Delivery)).values(
                id=uuid.uuid4(),
                event_id=event_id,
                channel="webhook",
                target=str(world.subscription_id),
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        prev_hash = conn.execute(
            select(table(AuditEvent).c.hash).where(
                table(AuditEvent).c.case_id == case_id, table(AuditEvent).c.seq == version - 1
            )
        ).scalar_one()
        event = AuditEvent(
            case_id=case_id,
            seq=version,
            at=now,
            kind="case.transitioned",
            actor_id=world.user_id,
            actor_roles=["panel_chair"],
            workflow_version=1,
            trigger=TRIGGER,
            from_state="referred",
            to_state="rapid_review",
            data=data,
            basis=BASIS,
            prev_hash=prev_hash,
        )
        event.hash = chain.compute_hash(event)
        conn.execute(
            insert(table(AuditEvent)).values(
                {c.name: getattr(event, c.name) for c in table(AuditEvent).columns}
            )
        )
        conn.execute(
            insert(table(AccessEvent)).values(
                id=uuid.uuid4(),
                at=now,
                actor_id=world.user_id,
                token_id=world.token_id,
                method="POST",
                path=f"/api/v1/cases/{case_id}/transitions",
                action="case.transition",
                case_id=case_id,
                outcome="allowed",
                status=200,
                request_id=uuid.uuid4().hex,
            )
        )


def rate(work: list[list[Any]], one: Callable[[Any, Any], None], setup: Callable[[], Any]) -> float:
    """Transitions per second: len(work) threads, each doing its own list, started together."""
    barrier = threading.Barrier(len(work) + 1)
    errors: list[BaseException] = []

    def worker(items: list[Any]) -> None:
        resource = setup()
        barrier.wait(timeout=REQUEST_SECONDS)
        try:
            for item in items:
                one(resource, item)
        except BaseException as exc:
            errors.append(exc)
        finally:
            if isinstance(resource, httpx.Client):
                resource.close()

    threads = [threading.Thread(target=worker, args=(items,)) for items in work]
    for t in threads:
        t.start()
    barrier.wait(timeout=REQUEST_SECONDS)
    started = time.perf_counter()
    for t in threads:
        t.join(timeout=REQUEST_SECONDS * max(1, sum(len(w) for w in work)))
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return sum(len(w) for w in work) / elapsed


# -- the server -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli() -> str:
    candidate = Path(sys.executable).parent / "cspr-engine"
    return str(candidate if candidate.exists() else ROOT / ".venv/bin/cspr-engine")


class Server:
    """`cspr-engine serve` on 127.0.0.1, scheduler off, log level WARNING."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CSPR_")}
        env.update(
            CSPR_DATABASE_URL=database_url,
            CSPR_ENVIRONMENT="test",
            CSPR_SCHEDULER_ENABLED="false",
            CSPR_LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
        )
        self.log = workdir / f"serve-{self.port}.log"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [cli(), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=env,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        give_up = time.monotonic() + START_SECONDS
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited:\n{self.log.read_text(errors='replace')}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > give_up:
                self.stop()
                raise RuntimeError(f"serve did not start:\n{self.log.read_text(errors='replace')}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_SECONDS)


# -- a run ----------------------------------------------------------------------------------


def split(items: list[Any], parts: int) -> list[list[Any]]:
    return [items[i::parts] for i in range(parts)]


def run(url: str, workdir: Path, args: argparse.Namespace) -> Figures:
    figures = Figures()
    started = time.perf_counter()
    engine = use_database(url)
    n = args.transitions
    total = 4 + 2 * n * len(CONCURRENCY)  # four to warm up, n per way and concurrency
    world = make_world(engine, datetime.now(UTC), total)
    figures.setup_s = time.perf_counter() - started
    pool = iter(world.cases)
    writer = writer_bind(engine)
    server = Server(url, workdir)
    try:
        headers = {"Authorization": f"Bearer {world.token}"}

        def client() -> httpx.Client:
            return httpx.Client(base_url=server.url, headers=headers, timeout=REQUEST_SECONDS)

        # Warm both ways up (imports, definitions, pools) on cases not counted.
        warm = [next(pool) for _ in range(4)]
        with client() as c:
            http_transition(c, world, warm[0][0])
            http_transition(c, world, warm[1][0])
        raw_transition(writer, world, *warm[2])
        raw_transition(writer, world, *warm[3])
        for concurrency in CONCURRENCY:
            cases = [next(pool) for _ in range(n)]
            figures.rates[("http", concurrency)] = rate(
                split([c for c, _ in cases], concurrency),
                lambda c, case_id: http_transition(c, world, case_id),
                client,
            )
            cases = [next(pool) for _ in range(n)]
            figures.rates[("raw", concurrency)] = rate(
                split(cases, concurrency),
                lambda _r, case: raw_transition(writer, world, *case),
                lambda: None,
            )
            print(
                f"  concurrency {concurrency}: HTTP {figures.rates[('http', concurrency)]:.0f}/s,"
                f" raw {figures.rates[('raw', concurrency)]:.0f}/s",
                flush=True,
            )
    finally:
        server.stop()
    check(engine, total)
    release_database()
    return figures


def check(engine: Engine, expected: int) -> None:
    """Every transition wrote its rows: the audit events, outbox events and deliveries."""
    with engine.connect() as conn:
        moved = conn.execute(
            select(func.count())
            .select_from(table(Case))
            .where(table(Case).c.state == "rapid_review")
        ).scalar_one()
        met = conn.execute(
            select(func.count())
            .select_from(table(Deadline))
            .where(table(Deadline).c.status == "met")
        ).scalar_one()
        outbox = conn.execute(
            select(func.count())
            .select_from(table(OutboxEvent))
            .where(table(OutboxEvent).c.type == "case.transitioned")
        ).scalar_one()
    if not moved == met == outbox:
        raise RuntimeError(f"rows disagree: {moved} cases moved, {met} clocks met, {outbox} events")
    if moved != expected:
        raise RuntimeError(f"{moved} cases moved, {expected} expected")


def report(results: dict[str, Figures], args: argparse.Namespace) -> None:
    print()
    print(
        f"{'database':<12}{'concurrency':>12}{'HTTP /s':>10}{'raw SQL /s':>12}"
        f"{'HTTP / raw':>12}{'target':>9}"
    )
    for name, figures in results.items():
        for concurrency in CONCURRENCY:
            http = figures.rates[("http", concurrency)]
            raw = figures.rates[("raw", concurrency)]
            ratio = http / raw
            print(
                f"{name:<12}{concurrency:>12}{http:>10.0f}{raw:>12.0f}{ratio:>11.0%}"
                f"{'met' if ratio >= 0.5 else 'MISSED':>9}"
            )
    print(f"\n{args.transitions} transitions per figure (notify_panel on fresh cases).")
    print(f"Load average when done: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=int, default=300)
    parser.add_argument(
        "--postgres-url", default=os.environ.get("CSPR_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    if args.transitions < max(CONCURRENCY):
        parser.error(f"--transitions must be at least {max(CONCURRENCY)}")
    os.environ.pop("CSPR_SMTP_HOST", None)  # webhooks only: e-mail deliveries need a server

    results = on_each_database(args, lambda url, work: run(url, work, args))
    report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
