"""The hash chain over each case's audit events, and its verification.

hash(n) = SHA-256 of the canonical JSON of event n's content together with hash(n-1). The
chain heads can be exported and kept outside the database: a chain kept only beside the data
it protects shows edits, but not a rewrite of the whole chain.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, tuple_
from sqlmodel import Session, col, select

from cspr_engine.audit.models import AuditEvent
from cspr_engine.cases.models import Case


def content(event: AuditEvent) -> dict[str, Any]:
    """What the hash covers: every column but the row id and the hash itself."""
    return {
        "case_id": str(event.case_id),
        "seq": event.seq,
        "at": event.at.astimezone(UTC).isoformat(),
        "kind": event.kind,
        "actor_id": str(event.actor_id) if event.actor_id else None,
        "actor_roles": list(event.actor_roles),
        "actor_agency": event.actor_agency,
        "workflow_version": event.workflow_version,
        "trigger": event.trigger,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "data": event.data,
        "comment": event.comment,
        "basis": event.basis,
        "request_id": event.request_id,
        "prev_hash": event.prev_hash,
    }


def compute_hash(event: AuditEvent) -> str:
    canonical = json.dumps(content(event), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def previous_hash(session: Session, case_id: uuid.UUID, seq: int) -> str | None:
    if seq <= 1:
        return None
    return session.exec(
        select(AuditEvent.hash).where(
            col(AuditEvent.case_id) == case_id, col(AuditEvent.seq) == seq - 1
        )
    ).first()


@dataclass(frozen=True)
class Break:
    case_id: uuid.UUID
    case_reference: str
    seq: int
    reason: str

    def __str__(self) -> str:
        return f"case {self.case_reference} ({self.case_id}), event {self.seq}: {self.reason}"


@dataclass(frozen=True)
class Head:
    case_id: uuid.UUID
    case_reference: str
    seq: int
    hash: str


def verify_case(session: Session, case: Case) -> Break | None:
    """The first broken link of the case's chain, or None if it holds."""
    events = session.exec(
        select(AuditEvent).where(col(AuditEvent.case_id) == case.id).order_by(col(AuditEvent.seq))
    )
    return _first_break(case, events)


def _first_break(case: Case, events: Iterable[AuditEvent]) -> Break | None:
    """The first broken link among the case's events, given in seq order."""
    expected_prev: str | None = None
    seq = 0
    for event in events:
        seq += 1
        if event.seq != seq:
            return Break(case.id, case.reference, seq, f"event {seq} is missing")
        if event.prev_hash != expected_prev:
            return Break(case.id, case.reference, seq, "does not link to the event before it")
        if compute_hash(event) != event.hash:
            return Break(case.id, case.reference, seq, "its content does not match its hash")
        expected_prev = event.hash
    if seq != case.version:
        return Break(
            case.id,
            case.reference,
            seq + 1,
            f"the case is at version {case.version} but its trail ends at event {seq}",
        )
    return None


# Cases are verified (and their heads read) a batch at a time: one query for a batch's
# events instead of one per case, so a whole database is read in a few thousand queries.
BATCH = 500


def _batches(session: Session, reference: str | None) -> Iterator[list[Case]]:
    """The cases in the order of `cases`, BATCH at a time (keyset pages: never all at once)."""
    if reference is not None:
        yield list(cases(session, reference))
        return
    after: tuple[datetime, str] | None = None
    while True:
        query = select(Case).order_by(col(Case.created_at), col(Case.reference)).limit(BATCH)
        if after is not None:
            query = query.where(tuple_(col(Case.created_at), col(Case.reference)) > after)
        batch = list(session.exec(query))
        if not batch:
            return
        yield batch
        after = (batch[-1].created_at, batch[-1].reference)
        if len(batch) < BATCH:
            return


def verify_all(
    session: Session, reference: str | None = None
) -> Iterator[tuple[Case, Break | None]]:
    """Every case (or the one with `reference`) in order, with its first broken link or None."""
    for batch in _batches(session, reference):
        events: dict[uuid.UUID, list[AuditEvent]] = {case.id: [] for case in batch}
        for event in session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.case_id).in_(list(events)))
            .order_by(col(AuditEvent.case_id), col(AuditEvent.seq))
        ):
            events[event.case_id].append(event)
        for case in batch:
            yield case, _first_break(case, events[case.id])
        session.expunge_all()  # keep memory flat over a whole database


def cases(session: Session, reference: str | None = None) -> Iterator[Case]:
    query = select(Case).order_by(col(Case.created_at), col(Case.reference))
    if reference is not None:
        query = query.where(col(Case.reference) == reference.upper())
    yield from session.exec(query)


def heads(session: Session) -> Iterator[Head]:
    """The last hash of every case's chain, to keep outside the database."""
    for batch in _batches(session, None):
        ids = [case.id for case in batch]
        last = (
            select(AuditEvent.case_id, func.max(AuditEvent.seq).label("seq"))
            .where(col(AuditEvent.case_id).in_(ids))
            .group_by(col(AuditEvent.case_id))
            .subquery()
        )
        found = {
            case_id: (seq, hash_)
            for case_id, seq, hash_ in session.exec(
                select(AuditEvent.case_id, AuditEvent.seq, AuditEvent.hash).join(
                    last,
                    (col(AuditEvent.case_id) == last.c.case_id)
                    & (col(AuditEvent.seq) == last.c.seq),
                )
            )
        }
        for case in batch:
            if case.id in found:
                seq, hash_ = found[case.id]
                yield Head(case.id, case.reference, seq, hash_)
        session.expunge_all()
