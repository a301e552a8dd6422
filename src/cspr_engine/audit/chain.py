"""The hash chain over each case's audit events, and its verification.

hash(n) = SHA-256 of the canonical JSON of event n's content together with hash(n-1). The
chain heads can be exported and kept outside the database: a chain kept only beside the data
it protects shows edits, but not a rewrite of the whole chain.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Any

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
    expected_prev: str | None = None
    seq = 0
    events = session.exec(
        select(AuditEvent).where(col(AuditEvent.case_id) == case.id).order_by(col(AuditEvent.seq))
    )
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


def cases(session: Session, reference: str | None = None) -> Iterator[Case]:
    query = select(Case).order_by(col(Case.created_at), col(Case.reference))
    if reference is not None:
        query = query.where(col(Case.reference) == reference.upper())
    yield from session.exec(query)


def heads(session: Session) -> Iterator[Head]:
    """The last hash of every case's chain, to keep outside the database."""
    for case in cases(session):
        last = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.case_id) == case.id)
            .order_by(col(AuditEvent.seq).desc())
        ).first()
        if last is not None:
            yield Head(case.id, case.reference, last.seq, last.hash)
