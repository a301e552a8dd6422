"""Many processes on one PostgreSQL: two `cspr-engine serve` processes and one `cspr-engine
worker`, under a load of clients spread over both servers and racing on the same cases
(transitions with and without If-Match, concurrent votes on one gate), while clocks fall due
and the worker sweeps them and delivers the alerts.

No lost update: every write answered 2xx is in the audit at the version its answer named, and a
refused write (409, 412) left nothing; versions run without gaps; the audit chains verify. No
duplicate alert: one outbox event per transition and per dispute, at most one per clock and
rung; each delivery recorded delivered once; the receiver gets each alert once, under its
stable id.

Every wait is bounded; the test stops only the processes it starts.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import Session, col, select

from cspr_engine.cases.models import Case
from cspr_engine.db import get_engine
from cspr_engine.deadlines import service as deadline_service
from cspr_engine.deadlines.models import Deadline
from cspr_engine.kit.clock import london_date
from cspr_engine.workflow import service as workflow_service
from tests.factories import Directory, referral
from tests.processes import (
    SETTLE_SECONDS,
    WebhookReceiver,
    assert_no_job_errors,
    show_figures,
    start_server,
    start_worker,
    stopped_at_exit,
    wait_until,
)
from tests.reliability import support
from tests.reliability.support import GATE, VOTERS, Stored, auth

pytestmark = [pytest.mark.heavy, pytest.mark.postgres_only]

CASES = 8  # every client works on all of them: the races are on the same cases
CLIENTS = 8  # half on each server
LOAD_SECONDS = 8.0
REQUEST_SECONDS = 20
# Extra clocks, long overdue, that fall due one after another while the load runs.
DUE_DURING_LOAD = 24
REFUSED = {
    409: {
        "/problems/invalid-transition",
        "/problems/concurrent-update",
        "/problems/guard-rejected",
        "/problems/gate-closed",
    },
    412: {"/problems/stale-version"},
}


@dataclass
class Write:
    """One write and its answer; `marker` (the transition's comment, the vote's rationale)
    names it in the audit."""

    client: int
    server: int
    case_id: str
    marker: str
    if_match: int | None = None
    kind: str = ""  # trigger name, or "vote"
    status: int = 0
    problem_type: str | None = None
    version: int | None = None


RAPID_REVIEW: dict[str, Any] = {
    "recommendation": "lcspr",
    "criteria": ["a"],
    "rationale": "Reg 11 criteria met.",
}


class Clients:
    def __init__(
        self, urls: list[str], directory: Directory, case_ids: list[str], today: str
    ) -> None:
        self.urls = urls
        self.directory = directory
        self.case_ids = case_ids
        self.today = today
        self.writes: list[Write] = []
        self.lock = threading.Lock()
        self.failures: list[BaseException] = []
        self.until = 0.0

    def run(self, seconds: float) -> None:
        self.until = time.monotonic() + seconds
        threads = [
            threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 2 * REQUEST_SECONDS)
        assert not any(t.is_alive() for t in threads), "a client did not stop"
        if self.failures:
            raise AssertionError(f"a client failed: {self.failures[0]!r}") from self.failures[0]

    def _client(self, index: int) -> None:
        rng = random.Random(index)
        server = index % len(self.urls)
        try:
            with httpx.Client(base_url=self.urls[server], timeout=REQUEST_SECONDS) as http:
                n = 0
                while time.monotonic() < self.until:
                    n += 1
                    case_id = rng.choice(self.case_ids)
                    self._move(http, rng, Write(index, server, case_id, f"w:{index}-{n}"))
        except BaseException as exc:  # reported on the test's thread
            self.failures.append(exc)

    def _move(self, http: httpx.Client, rng: random.Random, write: Write) -> None:
        """Read the case, then make the write its state calls for (half of them on the
        version read, with If-Match), on a version that may be stale by the time it lands."""
        read = http.get(f"/api/v1/cases/{write.case_id}", headers=auth(self.directory, "chair"))
        assert read.status_code == 200, read.text
        case = read.json()
        if rng.random() < 0.5:
            write.if_match = int(read.headers["etag"].strip('"'))
        today = self.today
        if case["state"] == "dsp_decision":
            if case["approvals"][GATE]["status"] == "agreed" and rng.random() < 0.7:
                data = {"submitted_on": today}
                submit = {"trigger": "submit_rapid_review", "data": data, "comment": write.marker}
                self._post(http, write, "business", "transitions", submit)
                return
            decision = "agree" if rng.random() < 0.8 else "disagree"
            body: dict[str, Any] = {"decision": decision, "rationale": write.marker}
            body["decided_on"] = today
            self._post(http, write, rng.choice(sorted(VOTERS)), f"approvals/{GATE}", body)
            return
        moves: dict[str, tuple[str, str, dict[str, Any]]] = {
            "referred": ("business", "notify_panel", {"notified_on": today}),
            "rapid_review": (
                "chair",
                "complete_rapid_review",
                RAPID_REVIEW | {"completed_on": today},
            ),
            # Sent back for more information: the case goes round again (a new gate round).
            "awaiting_panel_response": (
                "business",
                "record_panel_response",
                {"received_on": today, "outcome": "further_information_requested"},
            ),
        }
        who, trigger, data = moves[case["state"]]
        body = {"trigger": trigger, "data": data, "comment": write.marker}
        self._post(http, write, who, "transitions", body)

    def _post(
        self, http: httpx.Client, write: Write, who: str, path: str, body: dict[str, Any]
    ) -> None:
        headers = auth(self.directory, who)
        if write.if_match is not None:
            headers["If-Match"] = f'"{write.if_match}"'
        response = http.post(f"/api/v1/cases/{write.case_id}/{path}", json=body, headers=headers)
        write.kind = str(body.get("trigger", "vote"))
        write.status = response.status_code
        if response.status_code < 300:
            write.version = int(response.headers["etag"].strip('"'))
        else:
            write.problem_type = (support.response_json(response) or {}).get("type")
        with self.lock:
            self.writes.append(write)


def plan_due_clocks(case_ids: list[str], start: datetime) -> dict[uuid.UUID, str]:
    """Clocks of the cases, long overdue, each first looked at by the sweep at its own instant
    during the load: written straight to the table (the sweep reads nothing else). Returns
    clock id -> the rung that must fire (the last one: only the latest due rung fires)."""
    with Session(get_engine()) as session:
        calendar = deadline_service.current_calendar(session)
        cases = [session.get(Case, uuid.UUID(c)) for c in case_ids]
    assert all(cases)
    definition = workflow_service.definition_for(cases[0])  # type: ignore[arg-type]
    clock = definition.clocks["lcspr_completion"]  # none of the load's triggers touches it
    due_on = calendar.subtract_working_days(london_date(start), 20)
    rows, expected = [], {}
    for i in range(DUE_DURING_LOAD):
        case = cases[i % len(cases)]
        assert case is not None
        row_id = uuid.uuid4()
        rows.append(
            {
                "id": row_id,
                "case_id": case.id,
                "partnership_id": case.partnership_id,
                "key": clock.key,
                "sequence": 100 + i,
                "kind": clock.kind,
                "status": "pending",
                "starts_on": due_on - timedelta(days=180),
                "due_on": due_on,
                "due_at": deadline_service.end_of_day(due_on),
                "rungs_fired": 0,
                "next_rung_at": start
                + timedelta(seconds=LOAD_SECONDS * (i + 1) / (DUE_DURING_LOAD + 1)),
                "calendar_version": calendar.version,
                "created_at": start,
                "updated_at": start,
            }
        )
        expected[row_id] = definition.escalation[-1].name
    with get_engine().begin() as conn:
        conn.execute(Deadline.__table__.insert(), rows)  # type: ignore[attr-defined]
    return expected


def nothing_due() -> bool:
    now = datetime.now(UTC)
    with Session(get_engine()) as session:
        due = session.exec(
            select(func.count())
            .select_from(Deadline)
            .where(col(Deadline.next_rung_at).is_not(None), col(Deadline.next_rung_at) <= now)
        ).one()
    return due == 0


# -- checks ----------------------------------------------------------------------------------


def check_no_lost_update(stored: Stored, writes: list[Write]) -> None:
    """Every 2xx write is in the audit, at the version its answer named; a refused write left
    nothing; each client saw the versions of a case only go up."""
    by_marker: dict[str, tuple[uuid.UUID, int]] = {}
    for case_id, events in stored.events.items():
        for event in events:
            marker = (
                event.comment if event.kind == "case.transitioned" else event.data.get("rationale")
            )
            if isinstance(marker, str) and marker.startswith("w:"):
                assert marker not in by_marker, f"{marker} is in the audit twice"
                by_marker[marker] = (case_id, event.seq)
    acknowledged = [w for w in writes if 200 <= w.status < 300]
    for w in acknowledged:
        assert w.marker in by_marker, f"acknowledged write {w} is not in the audit"
        assert by_marker[w.marker] == (uuid.UUID(w.case_id), w.version), w
        written = stored.event_at(uuid.UUID(w.case_id), w.version or 0)
        assert written is not None
        if w.kind == "vote":
            assert written.kind in ("approval.voted", "approval.disputed"), w
        else:
            assert (written.kind, written.trigger) == ("case.transitioned", w.kind), w
        if w.if_match is not None:
            assert w.version == w.if_match + 1, w
    assert set(by_marker) == {w.marker for w in acknowledged}, "a refused write left an event"
    for w in writes:
        if not 200 <= w.status < 300:
            assert w.status in REFUSED, w
            assert w.problem_type in REFUSED[w.status], w
    seen: dict[tuple[int, str], int] = defaultdict(int)
    for w in acknowledged:  # in the order each client got its answers
        assert w.version is not None
        assert w.version > seen[(w.client, w.case_id)], f"a version went back: {w}"
        seen[(w.client, w.case_id)] = w.version


def check_no_duplicate_alert(stored: Stored, planned: dict[uuid.UUID, str]) -> dict[str, int]:
    """One alert per dispute (and none for a refused vote); at most one per clock and rung (one
    per clock here, only the latest due rung fires); every planned clock alerted once, at its
    last rung; a clock still running with a rung due has alerted. (`check_every_case` has the
    transitions: one alert each.)"""
    disputes = {
        f"approval:{case_id}:v{e.seq}"
        for case_id, events in stored.events.items()
        for e in events
        if e.kind == "approval.disputed"
    }
    alerted = {o.dedupe_key for o in stored.outbox.values() if o.type == "approval.disputed"}
    assert alerted == disputes
    by_clock: dict[uuid.UUID, list[str]] = defaultdict(list)
    for o in stored.outbox.values():
        if o.dedupe_key.startswith("deadline:"):
            _, clock_id, rung, _due_on = o.dedupe_key.split(":")
            by_clock[uuid.UUID(clock_id)].append(rung)
    assert {k: v for k, v in by_clock.items() if len(v) != 1} == {}, "a clock alerted twice"
    assert {k: by_clock.get(k) for k in planned} == {k: [v] for k, v in planned.items()}
    now = datetime.now(UTC)
    for deadlines in stored.deadlines.values():
        for d in deadlines:
            assert d.next_rung_at is None or d.next_rung_at > now, d
            if d.status == "breached":
                assert d.id in by_clock, f"breached clock {d.key} never alerted"
    return {"dispute_alerts": len(disputes), "clock_alerts": len(by_clock)}


# -- the test ----------------------------------------------------------------------------------


def test_two_servers_and_a_worker_lose_no_update_and_repeat_no_alert(
    directory: Directory,
    database_url: str,
    is_postgres: bool,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if not is_postgres:
        pytest.skip("two servers and a worker on one database: PostgreSQL's deployment")
    begun = time.monotonic()
    today_date = london_date(datetime.now(UTC))
    today = today_date.isoformat()
    # Long before: the cases' own clocks are overdue from the start, for the worker to sweep.
    aware_on = (today_date - timedelta(days=45)).isoformat()
    figures: dict[str, Any] = {}
    with WebhookReceiver() as receiver, stopped_at_exit() as keep:
        servers = [keep(start_server(database_url, tmp_path, f"serve-{i}")) for i in range(2)]
        for server in servers:
            server.wait_ready()
        figures["start_s"] = time.monotonic() - begun
        subscription = support.subscribe(servers[0].url, directory, receiver.url)
        case_ids = []
        for i in range(CASES):
            response = httpx.post(
                f"{servers[i % 2].url}/api/v1/cases",
                json=referral(became_aware_on=aware_on, partner_reference=f"RACE-{i}"),
                headers=auth(directory, "chair"),
                timeout=REQUEST_SECONDS,
            )
            assert response.status_code == 201, response.text
            case_ids.append(response.json()["id"])
        planned = plan_due_clocks(case_ids, datetime.now(UTC))
        worker = keep(start_worker(database_url, tmp_path, "worker"))
        worker.wait_ready()  # it sweeps the cases' overdue clocks as the load begins
        clients = Clients([s.url for s in servers], directory, case_ids, today)
        loaded = time.monotonic()
        clients.run(LOAD_SECONDS)
        figures["load_s"] = time.monotonic() - loaded
        settled = time.monotonic()
        wait_until(nothing_due, SETTLE_SECONDS, "the worker has swept every due clock")
        wait_until(support.delivered_all, SETTLE_SECONDS, "every alert is delivered")
        figures["settle_s"] = time.monotonic() - settled
        worker.stop()
        assert worker.process.returncode == 0, worker.output()
        assert_no_job_errors(worker, sqlite=False)
        received = receiver.snapshot()

    stored = support.load()
    writes = clients.writes
    support.check_every_case(stored, subscription)
    support.check_clocks(stored, only_these=False)
    check_no_lost_update(stored, writes)
    figures.update(check_no_duplicate_alert(stored, planned))
    figures.update(support.check_delivered(stored, received, exactly_once=True))
    statuses = Counter(w.status for w in writes)
    figures.update(
        writes=len(writes),
        acknowledged=sum(n for s, n in statuses.items() if s < 300),
        refused_409=statuses[409],
        refused_412=statuses[412],
        per_server="/".join(str(sum(w.server == i for w in writes)) for i in range(2)),
        transitions=sum(w.kind != "vote" and w.status < 300 for w in writes),
        votes=sum(w.kind == "vote" and w.status < 300 for w in writes),
        max_version=max(c.version for c in stored.cases.values()),
        test_s=time.monotonic() - begun,
    )
    # The races happened: on both servers, with refusals of both kinds.
    assert statuses[409], statuses
    assert statuses[412], statuses
    assert all(sum(w.server == i and w.status < 300 for w in writes) for i in range(2))
    show_figures(capsys, "many processes", figures)
