"""Crash test: a real `cspr-engine serve` (uvicorn) under a load of concurrent transitions, killed
with SIGKILL while requests are in flight and restarted on the same database, twice; then a
worker delivers the outbox.

Runs on the suite's database (a SQLite file, or PostgreSQL). After each crash, before any
client retries: every write acknowledged with a 2xx is in the database and the audit; nothing
is half applied (state, version, audit chain, clocks, outbox and votes agree on every case);
a request whose answer was lost is wholly there or wholly absent. At the end: a lost request
retried under its Idempotency-Key applied once (a replay when it had been committed); and
`cspr-engine worker` delivers every alert of the outbox, under its stable id, signed.

Every wait is bounded; the test stops (and kills) only the processes it starts.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cspr_engine.kit.clock import london_date
from tests.factories import Directory, referral
from tests.processes import (
    SETTLE_SECONDS,
    WebhookReceiver,
    assert_no_job_errors,
    free_port,
    show_figures,
    start_server,
    stopped_at_exit,
    wait_until,
    workers,
)
from tests.reliability import support
from tests.reliability.support import GATE, VOTERS, Stored, auth

pytestmark = pytest.mark.heavy

THREADS = 6  # clients, each walking its own cases
KILLS = 2
ACKS_PER_ROUND = 60  # acknowledged writes before each kill (and after the last restart)
ROUND_SECONDS = 30  # a round of load reaches its acknowledgements within this
REQUEST_SECONDS = 20  # a client's timeout for one request
PARK_SECONDS = 60  # a client waits this long for the server to come back


@dataclass(frozen=True)
class Step:
    kind: str  # create | fire | vote
    who: str
    trigger: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def walk(today: str) -> list[Step]:
    """A case from referral to closed: the Panel notification, the rapid review, the three
    DSPs' votes, submission, the Panel's response and closure."""
    return [
        Step("create", "chair"),
        Step("fire", "business", "notify_panel", {"notified_on": today, "panel_reference": "P-1"}),
        Step(
            "fire",
            "chair",
            "complete_rapid_review",
            {
                "completed_on": today,
                "recommendation": "no_lcspr",
                "rationale": "Learning is captured by the rapid review.",
            },
        ),
        *(Step("vote", who) for who in VOTERS),
        Step("fire", "business", "submit_rapid_review", {"submitted_on": today}),
        Step(
            "fire",
            "business",
            "record_panel_response",
            {"received_on": today, "outcome": "agrees_no_lcspr"},
        ),
        Step("fire", "chair", "close"),
    ]


@dataclass
class Call:
    """One request and what became of it: a status, or None (no answer: unknown)."""

    thread: int
    tag: str  # the walk's partner reference: names its case before its id is known
    step: Step
    round: int  # the server incarnation it was sent to
    key: str | None  # Idempotency-Key
    case_id: str | None
    retry: bool = False
    status: int | None = None
    body: dict[str, Any] | None = None
    version: int | None = None  # from the ETag
    replayed: bool = False

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def request(
    call: Call, directory: Directory, today: str, aware_on: str
) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The path, body and headers of `call`'s request (the same again for a retry)."""
    step = call.step
    headers = auth(directory, step.who)
    if call.key is not None:
        headers["Idempotency-Key"] = call.key
    if step.kind == "create":
        body = referral(became_aware_on=aware_on, partner_reference=call.tag)
        return "/api/v1/cases", body, headers
    if step.kind == "fire":
        body = {"trigger": step.trigger, "data": step.data}
        return f"/api/v1/cases/{call.case_id}/transitions", body, headers
    body = {"decision": "agree", "rationale": f"{step.who} agrees.", "decided_on": today}
    return f"/api/v1/cases/{call.case_id}/approvals/{GATE}", body, headers


def replay_acknowledged(
    url: str, directory: Directory, calls: list[Call], today: str, aware_on: str
) -> int:
    """A client that never got its answer retries: every keyed write acknowledged before the
    first crash, sent again with its key to the restarted server, is answered as it was the
    first time, marked a replay. Returns how many were sent."""
    first = [c for c in calls if c.round == 0 and c.key is not None and c.acknowledged]
    assert first
    with httpx.Client(base_url=url, timeout=REQUEST_SECONDS) as http:
        for call in first:
            path, body, headers = request(call, directory, today, aware_on)
            response = http.post(path, json=body, headers=headers)
            assert response.status_code == call.status, response.text
            assert response.headers.get("idempotent-replayed") == "true", call
            assert response.json() == call.body, call
    return len(first)


class Load:
    """Client threads walking cases through the workflow against one base URL. A client whose
    request gets no answer parks until the server is back (the next round), then retries it:
    under the same Idempotency-Key, or (a vote, which takes none) only if the vote is not on
    the case."""

    def __init__(self, url: str, directory: Directory, today: str, aware_on: str) -> None:
        self.url = url
        self.directory = directory
        self.today = today
        self.aware_on = aware_on
        self.calls: list[Call] = []
        self.cond = threading.Condition()
        self.round = 0
        self.parked = 0
        self.stopping = False
        self.failures: list[BaseException] = []
        self.threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(THREADS)
        ]

    # -- driving ---------------------------------------------------------------------------

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def acknowledged(self, round_: int) -> int:
        with self.cond:
            return sum(1 for c in self.calls if c.round == round_ and c.acknowledged)

    def wait_for_acknowledged(self, count: int) -> None:
        wait_until(
            lambda: self._healthy() and self.acknowledged(self.round) >= count,
            ROUND_SECONDS,
            f"{count} writes are acknowledged in round {self.round}",
        )

    def wait_parked(self) -> None:
        """Every client has lost a request to the dead server and waits for it."""
        wait_until(
            lambda: self._healthy() and self.parked == THREADS,
            PARK_SECONDS,
            "every client has noticed the server is gone",
        )

    def resume(self) -> None:
        with self.cond:
            self.round += 1
            self.cond.notify_all()

    def finish(self) -> list[Call]:
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        for thread in self.threads:
            thread.join(timeout=REQUEST_SECONDS * 2)
        assert not any(t.is_alive() for t in self.threads), "a client did not stop"
        self._healthy()
        return list(self.calls)

    def _healthy(self) -> bool:
        if self.failures:
            raise AssertionError(f"a client failed: {self.failures[0]!r}") from self.failures[0]
        return True

    # -- a client ----------------------------------------------------------------------------

    def _run(self, index: int) -> None:
        try:
            with httpx.Client(base_url=self.url, timeout=REQUEST_SECONDS) as http:
                for n in range(10_000):
                    if not self._walk(http, index, f"CRASH-{index}-{n}"):
                        return
        except BaseException as exc:  # reported on the test's thread
            self.failures.append(exc)

    def _walk(self, http: httpx.Client, index: int, tag: str) -> bool:
        """One case, step by step; False once the load is stopping."""
        case_id: str | None = None
        for number, step in enumerate(walk(self.today)):
            with self.cond:
                if self.stopping:
                    return False
                round_ = self.round
            key = None if step.kind == "vote" else f"{tag}:{number}:{step.trigger or 'create'}"
            call = self._send(http, Call(index, tag, step, round_, key, case_id))
            lost_in = call.round
            while call.status is None:
                if not self._park(lost_in):
                    return False
                with self.cond:
                    round_ = lost_in = self.round
                if step.kind == "vote":
                    found = self._vote_is_in(http, call)
                    if found is None:
                        continue  # the server went again before it answered
                    if found:
                        break
                call = self._send(http, Call(index, tag, step, round_, key, case_id, retry=True))
                lost_in = call.round
            else:
                if not call.acknowledged:
                    return True  # refused: this case's walk ends here
            if step.kind == "create":
                assert call.body is not None
                case_id = str(call.body["id"])
        return True

    def _park(self, lost_in: int) -> bool:
        with self.cond:
            self.parked += 1
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.round > lost_in or self.stopping, PARK_SECONDS)
            self.parked -= 1
            return self.round > lost_in and not self.stopping

    def _vote_is_in(self, http: httpx.Client, call: Call) -> bool | None:
        """Whether the lost vote is on the case; None if the server gave no answer."""
        try:
            response = http.get(
                f"/api/v1/cases/{call.case_id}", headers=auth(self.directory, "chair")
            )
        except httpx.TransportError:
            return None
        assert response.status_code == 200, response.text
        votes = response.json()["approvals"][GATE]["votes"]
        return any(v["party"] == VOTERS[call.step.who] for v in votes)

    def _send(self, http: httpx.Client, call: Call) -> Call:
        path, body, headers = request(call, self.directory, self.today, self.aware_on)
        try:
            response = http.post(path, json=body, headers=headers)
        except httpx.TransportError:
            pass  # no answer: the server died before, during or after the write
        else:
            call.status = response.status_code
            call.body = support.response_json(response)
            etag = response.headers.get("etag")
            call.version = int(etag.strip('"')) if etag else None
            call.replayed = response.headers.get("idempotent-replayed") == "true"
        with self.cond:
            self.calls.append(call)
        return call


# -- checks ----------------------------------------------------------------------------------


def check_acknowledged(stored: Stored, calls: list[Call]) -> None:
    """Every write acknowledged with a 2xx is in the database and the audit, at the version
    its answer named."""
    for call in calls:
        if not call.acknowledged:
            continue
        assert call.body is not None, call
        assert call.version is not None, call
        if call.step.kind == "create":
            case = stored.cases.get(uuid.UUID(call.body["id"]))
            assert case is not None, f"acknowledged case {call.tag} is not stored"
            assert case.partner_reference == call.tag
            event = stored.event_at(case.id, 1)
            assert event is not None, call
            assert event.kind == "case.created", call
            continue
        assert call.case_id is not None
        event = stored.event_at(uuid.UUID(call.case_id), call.version)
        assert event is not None, f"acknowledged {call.step} at v{call.version} not in the audit"
        if call.step.kind == "fire":
            assert (event.kind, event.trigger, event.to_state) == (
                "case.transitioned",
                call.step.trigger,
                call.body["state"],
            ), call
        else:
            assert (event.kind, event.data["party"]) == ("approval.voted", VOTERS[call.step.who])
            assert any(v.seq == call.version for v in stored.votes[event.case_id]), call


def check_lost(stored: Stored, calls: list[Call], directory: Directory) -> tuple[int, int]:
    """A request whose answer was lost is wholly there (its effect, its audit event and, if it
    had a key, its stored answer) or wholly absent. Returns (there, absent)."""
    there = absent = 0
    for call in calls:
        if call.status is not None:
            continue
        user = uuid.UUID(directory.user_ids["TW"][call.step.who])
        if call.step.kind == "create":
            record = stored.keys.get((user, "POST /cases", call.key or ""))
            case = stored.by_partner_reference(call.tag)
            assert (record is None) == (case is None), f"lost create {call.tag}: half there"
            applied = case is not None
        else:
            assert call.case_id is not None
            case_id = uuid.UUID(call.case_id)
            events = stored.events[case_id]
            if call.step.kind == "fire":
                scope = f"POST /cases/{call.case_id}/transitions"
                record = stored.keys.get((user, scope, call.key or ""))
                fired = [e for e in events if e.trigger == call.step.trigger]
                assert (record is None) == (fired == []), f"lost {call.step.trigger}: half there"
                if record is not None:
                    assert record.body["version"] == fired[0].seq
                applied = record is not None
            else:
                party = VOTERS[call.step.who]
                audited = [e for e in events if e.data.get("party") == party]
                rows = [v for v in stored.votes[case_id] if v.party == party]
                assert len(audited) == len(rows) <= 1, f"lost vote of {party}: half there"
                applied = bool(rows)
        there, absent = there + applied, absent + (not applied)
    return there, absent


def check_applied_once(stored: Stored, calls: list[Call], there_at_crash: set[str]) -> int:
    """Each trigger and each vote is in a case's audit at most once (the walks fire each
    once); a lost request retried under its key was answered 2xx, as a replay exactly when it
    had been committed before the crash. Returns the number of keyed retries."""
    for case in stored.cases.values():
        triggers = [e.trigger for e in stored.events[case.id] if e.trigger]
        assert len(triggers) == len(set(triggers)), f"{case.reference}: a trigger applied twice"
        parties = [v.party for v in stored.votes[case.id]]
        assert len(parties) == len(set(parties)), f"{case.reference}: a vote applied twice"
    retries = [c for c in calls if c.retry and c.key is not None and c.status is not None]
    for call in retries:
        assert call.acknowledged, f"retry of {call.key} answered {call.status}: {call.body}"
        assert call.replayed == (call.key in there_at_crash), call
    return len(retries)


def check_after_crash(
    directory: Directory, calls: list[Call], subscription: uuid.UUID, there: set[str]
) -> tuple[int, int]:
    stored = support.load()
    check_acknowledged(stored, calls)
    lost = [c for c in calls if c.status is None and c.round == max(c.round for c in calls)]
    counts = check_lost(stored, lost, directory)
    support.check_every_case(stored, subscription)
    support.check_clocks(stored, only_these=True)
    for call in lost:
        if call.key is not None and _applied(stored, call, directory):
            there.add(call.key)
    return counts


def _applied(stored: Stored, call: Call, directory: Directory) -> bool:
    user = uuid.UUID(directory.user_ids["TW"][call.step.who])
    scope = (
        "POST /cases" if call.step.kind == "create" else f"POST /cases/{call.case_id}/transitions"
    )
    return (user, scope, call.key) in stored.keys


# -- the test ----------------------------------------------------------------------------------


def test_killed_server_loses_no_acknowledged_write(
    directory: Directory,
    database_url: str,
    is_postgres: bool,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    begun = time.monotonic()
    today_date = london_date(datetime.now(UTC))
    today, aware_on = today_date.isoformat(), (today_date - timedelta(days=1)).isoformat()
    port = free_port()
    figures: dict[str, Any] = {"database": "postgresql" if is_postgres else "sqlite"}
    there_at_crash: set[str] = set()
    with WebhookReceiver() as receiver, stopped_at_exit() as keep:
        server = keep(start_server(database_url, tmp_path, "serve-0", port))
        server.wait_ready()
        subscription = support.subscribe(server.url, directory, receiver.url)
        load = Load(server.url, directory, today, aware_on)
        load.start()
        for kill in range(1, KILLS + 1):
            loaded = time.monotonic()
            load.wait_for_acknowledged(ACKS_PER_ROUND)
            figures[f"load{kill}_s"] = time.monotonic() - loaded
            server.kill9()  # the clients are mid-request: they fire without pause
            killed = time.monotonic()
            load.wait_parked()
            figures[f"park{kill}_s"] = time.monotonic() - killed
            server = keep(start_server(database_url, tmp_path, f"serve-{kill}", port))
            server.wait_ready()
            figures[f"restart{kill}_to_ready_s"] = time.monotonic() - killed
            with load.cond:
                calls = list(load.calls)
            checked = time.monotonic()
            there, absent = check_after_crash(directory, calls, subscription, there_at_crash)
            figures[f"check{kill}_s"] = time.monotonic() - checked
            figures[f"lost{kill}"] = there + absent
            figures[f"lost{kill}_there"] = there
            load.resume()
        load.wait_for_acknowledged(ACKS_PER_ROUND)
        calls = load.finish()
        figures["replayed"] = replay_acknowledged(server.url, directory, calls, today, aware_on)

        stored = support.load()
        check_acknowledged(stored, calls)
        support.check_every_case(stored, subscription)
        support.check_clocks(stored, only_these=True)
        figures["keyed_retries"] = check_applied_once(stored, calls, there_at_crash)
        figures["requests"] = len(calls)
        figures["acknowledged"] = sum(c.acknowledged for c in calls)
        figures["refused"] = sum(c.status is not None and not c.acknowledged for c in calls)
        figures["cases"] = len(stored.cases)
        failed = [c for c in calls if c.status is not None and c.status >= 500]
        assert failed == [], failed[:3]

        with workers(database_url, tmp_path, ["worker"]) as (worker,):
            started = time.monotonic()
            worker.wait_ready()
            wait_until(support.delivered_all, SETTLE_SECONDS, "every alert is delivered")
            figures["deliver_outbox_s"] = time.monotonic() - started
            worker.stop()
            assert worker.process.returncode == 0, worker.output()
            assert_no_job_errors(worker, sqlite=not is_postgres)
        received = receiver.snapshot()
    figures.update(support.check_delivered(support.load(), received, exactly_once=False))
    figures["test_s"] = time.monotonic() - begun
    show_figures(capsys, "crash", figures)
