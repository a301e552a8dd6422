"""Realistic data for the read and write benchmarks: partnerships, users, tokens and N cases.

Usage:
    .venv/bin/python bench/data.py --cases 100000 --url URL

Fills a migrated database (migrated here if it is not yet) with about 150 partnerships, each
with a panel chair, a business unit and the three agencies' delegated safeguarding partners,
an API token per user and a webhook subscription; then N cases spread over the partnerships,
the last six years, the referring agencies and every state of workflows/cspr.yaml (older cases
mostly closed or in action monitoring, a few hundred open in the early states). Every case
has the audit events of the path that led it to its state (hash-chained, so verify-audit
holds), its clocks (met for past stages, pending or breached for the running ones), the DSPs'
votes once it has passed the joint decision, and an outbox event (with a webhook delivery for
the recent ones); one case in 500 is shared with another partnership. No child's name,
address, date of birth or NHS number: the schema has none.

Rows are written with COPY on PostgreSQL and executemany in large batches on SQLite; the
tables are ANALYZEd afterwards. `generate()` is the entry point for other bench scripts.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Engine, Table, text
from sqlmodel import Session
from sweep import never_called_subscription, use_database

from cspr_engine.accounts import service as accounts_service
from cspr_engine.accounts.models import Partnership, User
from cspr_engine.alerts.models import Delivery, OutboxEvent
from cspr_engine.approvals.models import ApprovalVote
from cspr_engine.audit.chain import compute_hash
from cspr_engine.audit.models import AuditEvent
from cspr_engine.cases.models import Case, CaseReferenceCounter
from cspr_engine.deadlines import service as deadline_service
from cspr_engine.deadlines.models import Deadline
from cspr_engine.links.models import CaseShare

PARTNERSHIPS = 150
DSP_AGENCIES = ("local_authority", "police", "health")
AGENCIES = (
    ("local_authority", 40),
    ("police", 20),
    ("health", 20),
    ("education", 10),
    ("probation", 3),
    ("youth_justice", 3),
    ("voluntary_sector", 2),
    ("other", 2),
)
BENCH_PASSWORD = "bench-password-0123456789"
CHAIR_EMAIL = "chair@p000.bench.example"
CALENDAR_VERSION = "bench"
YEARS = 6
BATCH = 20_000
SHARED = 0.002  # cases shown to another partnership (cross-boundary incidents)

# Each step: trigger, the state it leads to, typical days after the step before, the clock it
# stops (met) and the clocks it starts (key, kind, due in days from the step).
STEPS: dict[str, tuple[str, int, tuple[str, ...], tuple[tuple[str, str, int], ...]]] = {
    "notify_panel": ("rapid_review", 3, ("panel_notification",), ()),
    "decide_not_notifiable": ("closed", 4, ("panel_notification", "rapid_review"), ()),
    "complete_rapid_review": ("dsp_decision", 12, (), ()),
    "withdraw": ("closed", 10, ("rapid_review",), ()),
    "submit_rapid_review": ("awaiting_panel_response", 3, ("rapid_review",), ()),
    "record_panel_response:agrees_lcspr": (
        "lcspr_commissioning",
        20,
        (),
        (("lcspr_completion", "statutory", 183),),
    ),
    "record_panel_response:agrees_no_lcspr": ("action_monitoring", 20, (), ()),
    "record_panel_response:national_review": ("national_review", 20, (), ()),
    "commission_lcspr": ("lcspr_in_progress", 20, (), (("lcspr_quality_check", "advisory", 30),)),
    "receive_final_report": (
        "final_report",
        170,
        ("lcspr_completion", "lcspr_quality_check"),
        (),
    ),
    "schedule_publication": (
        "final_report",
        10,
        (),
        (("pre_publication_notice", "statutory", 30),),
    ),
    "send_to_panel_and_sos": ("awaiting_publication", 7, ("pre_publication_notice",), ()),
    "withhold_publication": (
        "publication_withheld",
        10,
        (),
        (("delay_notice", "advisory", 7),),
    ),
    "publish": (
        "action_monitoring",
        12,
        ("delay_notice",),
        (("publication_retention", "advisory", 365),),
    ),
    "confirm_non_publication": ("action_monitoring", 5, ("delay_notice",), ()),
    "record_national_review_outcome": ("action_monitoring", 200, (), ()),
    "close": ("closed", 300, ("publication_retention",), ()),
}
# (trigger, clock) pairs that cancel the clock rather than meet it.
CANCELS = {
    ("decide_not_notifiable", "rapid_review"),
    ("withdraw", "rapid_review"),
    ("receive_final_report", "lcspr_quality_check"),
    ("publish", "delay_notice"),
}
CREATE_CLOCKS = (("panel_notification", "statutory", 7), ("rapid_review", "statutory", 21))

_LCSPR = (
    "notify_panel",
    "complete_rapid_review",
    "submit_rapid_review",
    "record_panel_response:agrees_lcspr",
    "commission_lcspr",
    "receive_final_report",
    "schedule_publication",
    "send_to_panel_and_sos",
)
PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    "referred": ((),),
    "rapid_review": (("notify_panel",),),
    "dsp_decision": (_LCSPR[:2],),
    "awaiting_panel_response": (_LCSPR[:3],),
    "lcspr_commissioning": (_LCSPR[:4],),
    "lcspr_in_progress": (_LCSPR[:5],),
    "final_report": (_LCSPR[:6], _LCSPR[:7]),
    "awaiting_publication": (_LCSPR,),
    "publication_withheld": ((*_LCSPR, "withhold_publication"),),
    "national_review": ((*_LCSPR[:3], "record_panel_response:national_review"),),
    "action_monitoring": (
        (*_LCSPR, "publish"),
        (*_LCSPR[:3], "record_panel_response:agrees_no_lcspr"),
        (*_LCSPR[:3], "record_panel_response:national_review", "record_national_review_outcome"),
    ),
    "closed": (
        ("decide_not_notifiable",),
        ("notify_panel", "withdraw"),
        (*_LCSPR, "publish", "close"),
        (*_LCSPR[:3], "record_panel_response:agrees_no_lcspr", "close"),
    ),
}
# By age in days: (up to, [(state, weight)]); the closed paths are picked by age too.
STATE_MIX: tuple[tuple[int, tuple[tuple[str, int], ...]], ...] = (
    (7, (("referred", 50), ("rapid_review", 40), ("closed", 10))),
    (
        21,
        (
            ("rapid_review", 40),
            ("dsp_decision", 30),
            ("awaiting_panel_response", 15),
            ("closed", 15),
        ),
    ),
    (
        60,
        (
            ("awaiting_panel_response", 40),
            ("lcspr_commissioning", 20),
            ("action_monitoring", 15),
            ("closed", 25),
        ),
    ),
    (
        240,
        (
            ("lcspr_in_progress", 55),
            ("national_review", 5),
            ("action_monitoring", 15),
            ("closed", 25),
        ),
    ),
    (
        400,
        (
            ("lcspr_in_progress", 20),
            ("final_report", 15),
            ("awaiting_publication", 10),
            ("publication_withheld", 5),
            ("action_monitoring", 30),
            ("closed", 20),
        ),
    ),
    (
        730,
        (
            ("action_monitoring", 45),
            ("closed", 45),
            ("publication_withheld", 3),
            ("national_review", 2),
            ("lcspr_in_progress", 5),
        ),
    ),
    (10**6, (("closed", 75), ("action_monitoring", 25))),
)
ROLE_OF: dict[str, str] = {
    "decide_not_notifiable": "dsp",
    "send_to_panel_and_sos": "business_unit",
    "publish": "business_unit",
}


@dataclass
class Member:
    id: uuid.UUID
    roles: list[str]
    agency: str | None


@dataclass
class Place:
    """One partnership and the people who act on its cases."""

    id: uuid.UUID
    code: str
    chair: Member
    business_unit: Member
    dsps: dict[str, Member]
    subscription_id: uuid.UUID
    chair_token: str = ""
    counters: dict[int, int] = field(default_factory=dict)


@dataclass
class Generated:
    """What other bench scripts need to drive the service against the data."""

    partnerships: list[Place]
    chair_email: str
    chair_token: str
    password: str
    case_ids: list[uuid.UUID]
    case_partnerships: list[uuid.UUID]
    states: dict[str, int]
    rows: dict[str, int]
    seconds: float


# -- people -----------------------------------------------------------------------------------


def make_people(engine: Engine, now: datetime, partnerships: int) -> list[Place]:
    """Partnerships, their users and tokens (through the service, as an admin would), and the
    first chair's password."""
    places: list[Place] = []
    with Session(engine) as session:
        for p in range(partnerships):
            code = f"P{p:03d}"
            partnership = accounts_service.create_partnership(
                session=session, code=code, name=f"Partnership {p:03d}", now=now
            )

            def user(
                kind: str,
                roles: list[str],
                agency: str | None,
                p: int = p,
                partnership: Partnership = partnership,
            ) -> Member:
                made = accounts_service.create_user(
                    session=session,
                    email=f"{kind}@p{p:03d}.bench.example",
                    display_name=kind.replace("-", " ").title(),
                    partnership=partnership,
                    roles=roles,
                    agency=agency,
                    now=now,
                )
                return Member(made.id, roles, agency)

            chair = user("chair", ["panel_chair"], None)
            unit = user("business-unit", ["business_unit"], None)
            dsps = {a: user(f"dsp-{a.replace('_', '-')}", ["dsp"], a) for a in DSP_AGENCIES}
            chair_token = ""
            for member in (chair, unit, *dsps.values()):
                made_user = session.get(User, member.id)
                assert made_user is not None
                _, secret = accounts_service.create_token(
                    session=session, user=made_user, name="bench", now=now
                )
                if member is chair:
                    chair_token = secret
            subscription = never_called_subscription(partnership.id, now)
            session.add(subscription)
            session.flush()
            places.append(
                Place(partnership.id, code, chair, unit, dsps, subscription.id, chair_token)
            )
        first = session.get(User, places[0].chair.id)
        assert first is not None
        accounts_service.set_password(session=session, user=first, password=BENCH_PASSWORD, now=now)
        session.commit()
    return places


# -- cases ------------------------------------------------------------------------------------


def _pick(rnd: random.Random, weighted: Iterable[tuple[str, int]]) -> str:
    items = list(weighted)
    return rnd.choices([i[0] for i in items], weights=[i[1] for i in items])[0]


def state_for(age_days: int, rnd: random.Random) -> tuple[str, tuple[str, ...]]:
    """A plausible state for a case this old, and the path of triggers that led there."""
    for upto, mix in STATE_MIX:
        if age_days < upto:
            state = _pick(rnd, mix)
            break
    paths = PATHS[state]
    if state == "closed":
        if age_days < 60:
            return state, paths[rnd.randrange(2)]
        return state, paths[2 + rnd.randrange(2)]
    if state == "action_monitoring" and age_days < 240:
        return state, paths[1]
    return state, paths[rnd.randrange(len(paths))]


class CaseMaker:
    """Rows for cases, their audit events, clocks, votes, outbox events and deliveries."""

    def __init__(self, places: list[Place], now: datetime, seed: int) -> None:
        self.places = places
        self.now = now
        self.today = now.date()
        self.rnd = random.Random(seed)
        self.agencies = [a for a, _ in AGENCIES]
        self.agency_weights = [w for _, w in AGENCIES]
        self.end_of_day: dict[date, datetime] = {}

    def due_at(self, day: date) -> datetime:
        if day not in self.end_of_day:
            self.end_of_day[day] = deadline_service.end_of_day(day)
        return self.end_of_day[day]

    def make(self, created_at: datetime) -> dict[str, list[dict[str, Any]]]:
        rnd = self.rnd
        place = self.places[rnd.randrange(len(self.places))]
        age = (self.now - created_at).days
        state, path = state_for(age, rnd)
        case_id = uuid.uuid4()
        agency = rnd.choices(self.agencies, weights=self.agency_weights)[0]
        became_aware_on = created_at.date() - timedelta(days=rnd.randrange(0, 3))
        year = created_at.year
        number = place.counters.get(year, 0) + 1
        place.counters[year] = number
        # The steps' instants: typical gaps, squeezed so the last one is before now.
        total = sum(STEPS[t][1] for t in path)
        room = max(0.0, (self.now - created_at).total_seconds() - 3600)
        squeeze = min(1.0, room / (total * 86400)) if total else 1.0
        at = created_at
        instants = []
        for trigger in path:
            gap = STEPS[trigger][1] * squeeze * rnd.uniform(0.6, 1.2)
            at = min(at + timedelta(days=gap), self.now - timedelta(minutes=30))
            instants.append(at)
        out: dict[str, list[dict[str, Any]]] = {
            k: []
            for k in ("cases", "shares", "audit", "deadlines", "votes", "outbox", "deliveries")
        }
        incident = {
            "occurred_on": (became_aware_on - timedelta(days=rnd.randrange(1, 20))).isoformat(),
            "outcome": rnd.choice(("death", "serious_harm")),
            "abuse_or_neglect": rnd.choice(("known", "suspected")),
            "categories": [
                rnd.choice(("physical_abuse", "neglect", "sexual_abuse", "emotional_abuse"))
            ],
        }
        creator = place.chair if rnd.random() < 0.5 else place.business_unit
        events: list[Any] = []
        prev: str | None = None

        def audit(
            at: datetime,
            kind: str,
            who: Member,
            trigger: str | None,
            src: str | None,
            dst: str,
            data: dict[str, Any],
        ) -> None:
            nonlocal prev
            # compute_hash reads attributes only: a plain namespace is ten times quicker to
            # make than the mapped class.
            event = SimpleNamespace(
                id=uuid.uuid4(),
                case_id=case_id,
                seq=len(events) + 1,
                at=at,
                kind=kind,
                actor_id=who.id,
                actor_roles=sorted(who.roles),
                actor_agency=who.agency,
                workflow_version=1,
                trigger=trigger,
                from_state=src,
                to_state=dst,
                data=data,
                comment=None,
                basis=None,
                request_id=None,
                prev_hash=prev,
                hash="",
            )
            event.hash = compute_hash(cast(AuditEvent, event))
            prev = event.hash
            events.append(event)

        audit(
            created_at,
            "case.created",
            creator,
            None,
            None,
            "referred",
            {
                "became_aware_on": became_aware_on.isoformat(),
                "referring_agency": agency,
                "incident": incident,
            },
        )
        clocks: dict[str, dict[str, Any]] = {}

        def start(key: str, kind: str, days: int, on: date, at: datetime) -> None:
            due_on = on + timedelta(days=days)
            clocks[key] = {
                "id": uuid.uuid4(),
                "case_id": case_id,
                "partnership_id": place.id,
                "key": key,
                "sequence": 1,
                "kind": kind,
                "status": "pending",
                "starts_on": on,
                "due_on": due_on,
                "due_at": self.due_at(due_on),
                "met_on": None,
                "met_at": None,
                "breached_at": None,
                "rungs_fired": 0,
                "next_rung_at": None,
                "calendar_version": CALENDAR_VERSION,
                "created_at": at,
                "updated_at": at,
            }

        for key, kind, days in CREATE_CLOCKS:
            start(key, kind, days, became_aware_on, created_at)
        current = "referred"
        version_entered = 1
        dsp_round = 0
        for trigger, when in zip(path, instants, strict=True):
            name, _, outcome = trigger.partition(":")
            dst, _, stops, starts = STEPS[trigger]
            role = ROLE_OF.get(name, "panel_chair")
            who = {"dsp": place.dsps["local_authority"], "business_unit": place.business_unit}.get(
                role, place.chair
            )
            data: dict[str, Any] = {"outcome": outcome} if outcome else {}
            audit(when, "case.transitioned", who, name, current, dst, data)
            for key in stops:
                clock = clocks.get(key)
                if clock is not None and clock["status"] == "pending":
                    if (name, key) in CANCELS:
                        clock.update(status="cancelled", cancelled_at=when, updated_at=when)
                        continue
                    late = when > clock["due_at"]
                    clock.update(
                        status="met_late" if late else "met",
                        met_on=when.date(),
                        met_at=when,
                        updated_at=when,
                    )
                    if late:
                        clock.update(breached_at=clock["due_at"], rungs_fired=3)
            for key, kind, days in starts:
                start(key, kind, days, when.date(), when)
            if dst == "dsp_decision":
                dsp_round = len(events)
            if dst != current:
                version_entered = len(events)
            current = dst
        assert current == state, (state, path, current)
        # Clocks still running: breached if past their due instant (the sweep fired every rung).
        for clock in clocks.values():
            if clock["status"] != "pending":
                continue
            if state == "closed":
                clock.update(status="cancelled", cancelled_at=instants[-1], updated_at=instants[-1])
            elif clock["due_at"] < self.now and clock["key"] != "publication_retention":
                clock.update(status="breached", breached_at=clock["due_at"], rungs_fired=2)
                escalated = clock["due_at"] + timedelta(days=7)
                clock["next_rung_at"] = escalated if escalated > self.now else None
                if escalated <= self.now:
                    clock["rungs_fired"] = 3
            elif clock["due_at"] < self.now:
                clock.update(status="met", met_on=clock["due_on"], met_at=clock["due_at"])
            else:
                clock["next_rung_at"] = clock["due_at"] - timedelta(days=2)
        # The DSPs' votes, once the case reached the joint decision (some still missing there).
        if dsp_round:
            voters = list(DSP_AGENCIES)
            if state == "dsp_decision":
                voters = voters[: rnd.randrange(0, 3)]
            decided = instants[min(1, len(instants) - 1)]
            for seq, a in enumerate(voters, start=1):
                out["votes"].append(
                    {
                        "id": uuid.uuid4(),
                        "case_id": case_id,
                        "gate": "dsp_joint_decision",
                        "round": dsp_round,
                        "seq": seq,
                        "party": f"dsp:{a}",
                        "agency": a,
                        "user_id": place.dsps[a].id,
                        "decision": "agree",
                        "rationale": "Agreed at the partners' meeting.",
                        "decided_on": decided.date(),
                        "cast_at": decided,
                    }
                )
        last = events[-1]
        event_id = uuid.uuid4()
        out["outbox"].append(
            {
                "id": event_id,
                "dedupe_key": f"case:{case_id}:v{last.seq}",
                "type": last.kind,
                "partnership_id": place.id,
                "case_id": case_id,
                "payload": {"case_id": str(case_id), "state": state, "version": last.seq},
                "occurred_at": last.at,
            }
        )
        if (self.now - last.at).days < 30:
            out["deliveries"].append(
                {
                    "id": uuid.uuid4(),
                    "event_id": event_id,
                    "channel": "webhook",
                    "target": str(place.subscription_id),
                    "status": "delivered",
                    "attempts": 1,
                    "next_attempt_at": last.at,
                    "delivered_at": last.at + timedelta(seconds=1),
                    "created_at": last.at,
                }
            )
        out["cases"].append(
            {
                "id": case_id,
                "partnership_id": place.id,
                "reference": f"{place.code}-{year}-{number:04d}",
                "workflow": "cspr",
                "workflow_version": 1,
                "state": state,
                "version": len(events),
                "state_entered_version": version_entered,
                "partner_reference": f"REF-{rnd.randrange(10**8):08d}"
                if rnd.random() < 0.6
                else None,
                "referring_agency": agency,
                "became_aware_on": became_aware_on,
                "incident": incident,
                "child": {},
                "recorded": {},
                "created_by": creator.id,
                "state_entered_at": events[version_entered - 1].at,
                "closed_at": last.at if state == "closed" else None,
                "created_at": created_at,
                "updated_at": last.at,
            }
        )
        if rnd.random() < SHARED:
            grantee = self.places[rnd.randrange(len(self.places))]
            if grantee is not place:
                out["shares"].append(
                    {
                        "id": uuid.uuid4(),
                        "case_id": case_id,
                        "grantee_partnership_id": grantee.id,
                        "reason": "Cross-boundary incident: the child's home authority.",
                        "granted_by": place.chair.id,
                        "granted_at": created_at,
                    }
                )
        out["audit"].extend(
            {
                "id": e.id,
                "case_id": e.case_id,
                "seq": e.seq,
                "at": e.at,
                "kind": e.kind,
                "actor_id": e.actor_id,
                "actor_roles": e.actor_roles,
                "actor_agency": e.actor_agency,
                "workflow_version": e.workflow_version,
                "trigger": e.trigger,
                "from_state": e.from_state,
                "to_state": e.to_state,
                "data": e.data,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e in events
        )
        out["deadlines"].extend(clocks.values())
        return out


TABLES: dict[str, Table] = {
    "cases": Case.__table__,  # type: ignore[attr-defined]
    "shares": CaseShare.__table__,  # type: ignore[attr-defined]
    "audit": AuditEvent.__table__,  # type: ignore[attr-defined]
    "deadlines": Deadline.__table__,  # type: ignore[attr-defined]
    "votes": ApprovalVote.__table__,  # type: ignore[attr-defined]
    "outbox": OutboxEvent.__table__,  # type: ignore[attr-defined]
    "deliveries": Delivery.__table__,  # type: ignore[attr-defined]
}
DEADLINE_COLUMNS = (
    "id case_id partnership_id key sequence kind status starts_on due_on due_at met_on met_at "
    "breached_at cancelled_at rungs_fired next_rung_at calendar_version created_at updated_at"
).split()


def _columns(name: str, rows: list[dict[str, Any]]) -> list[str]:
    return DEADLINE_COLUMNS if name == "deadlines" else list(rows[0])


def write(engine: Engine, batch: dict[str, list[dict[str, Any]]]) -> None:
    """One batch of rows, parents first, in one transaction."""
    with engine.begin() as conn:
        for name, table in TABLES.items():
            rows = batch[name]
            if not rows:
                continue
            columns = _columns(name, rows)
            if engine.dialect.name == "postgresql":
                raw: Any = conn.connection.driver_connection
                with (
                    raw.cursor() as cursor,
                    cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
                ):
                    for row in rows:
                        copy.write_row(
                            [
                                json.dumps(v) if isinstance(v, dict | list) else v
                                for v in (row.get(c) for c in columns)
                            ]
                        )
            else:
                conn.execute(table.insert(), [{c: row.get(c) for c in columns} for row in rows])


def creation_instants(n: int, now: datetime, rnd: random.Random) -> Iterator[datetime]:
    """N instants over the last YEARS years, oldest first, a little denser lately."""
    span = YEARS * 365 * 86400
    offsets = sorted((span * rnd.random() ** 1.15 for _ in range(n)), reverse=True)
    for seconds in offsets:
        yield now - timedelta(seconds=seconds + 7200)


def generate(
    engine: Engine, cases: int, *, seed: int = 9, partnerships: int = PARTNERSHIPS
) -> Generated:
    """Fill the (migrated, empty) database behind `engine`; see the module's docstring."""
    started = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    places = make_people(engine, now, partnerships)
    maker = CaseMaker(places, now, seed)
    counts = dict.fromkeys(TABLES, 0)
    states: dict[str, int] = {}
    ids: list[uuid.UUID] = []
    owners: list[uuid.UUID] = []
    batch: dict[str, list[dict[str, Any]]] = {k: [] for k in TABLES}
    pending = 0
    for created_at in creation_instants(cases, now, random.Random(seed + 1)):
        made = maker.make(created_at)
        for k, rows in made.items():
            batch[k].extend(rows)
        case = made["cases"][0]
        ids.append(case["id"])
        owners.append(case["partnership_id"])
        states[case["state"]] = states.get(case["state"], 0) + 1
        pending += 1
        if pending >= BATCH:
            write(engine, batch)
            for k in TABLES:
                counts[k] += len(batch[k])
            batch = {k: [] for k in TABLES}
            pending = 0
    write(engine, batch)
    for k in TABLES:
        counts[k] += len(batch[k])
    counters = [
        {"partnership_id": p.id, "year": y, "last": n}
        for p in places
        for y, n in p.counters.items()
    ]
    with engine.begin() as conn:
        if counters:
            conn.execute(CaseReferenceCounter.__table__.insert(), counters)  # type: ignore[attr-defined]
        conn.exec_driver_sql("ANALYZE")
    return Generated(
        partnerships=places,
        chair_email=CHAIR_EMAIL,
        chair_token=places[0].chair_token,
        password=BENCH_PASSWORD,
        case_ids=ids,
        case_partnerships=owners,
        states=states,
        rows=counts,
        seconds=time.perf_counter() - started,
    )


def database_size(engine: Engine) -> int:
    """Bytes on disk (the database, or the SQLite file)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            return int(
                conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
            )
        path = engine.url.database or ""
        return os.path.getsize(path) if os.path.exists(path) else 0


def summary(engine: Engine, made: Generated) -> str:
    lines = [
        f"{len(made.case_ids):,} cases in {len(made.partnerships)} partnerships "
        f"in {made.seconds:.1f} s ({len(made.case_ids) / made.seconds:,.0f} cases/s), "
        f"{database_size(engine) / 2**20:,.0f} MiB on disk",
        "rows: " + ", ".join(f"{k} {v:,}" for k, v in made.rows.items()),
        "states: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(made.states.items(), key=lambda kv: -kv[1])),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--url", required=True, help="database URL (migrated here if need be)")
    parser.add_argument("--partnerships", type=int, default=PARTNERSHIPS)
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args(argv)
    engine = use_database(args.url)
    with Session(engine) as session:
        if session.exec(text("SELECT count(*) FROM partnerships")).one()[0]:  # type: ignore[call-overload]
            parser.error("the database already has partnerships: give an empty one")
    made = generate(engine, args.cases, seed=args.seed, partnerships=args.partnerships)
    print(summary(engine, made))
    print(f"sign in as {made.chair_email} / {made.password}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
