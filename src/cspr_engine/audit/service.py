"""Record audit events, in the caller's transaction (never on their own)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from cspr_engine.accounts.schemas import Actor
from cspr_engine.audit import chain
from cspr_engine.audit.models import AuditEvent
from cspr_engine.cases.models import Case
from cspr_engine.kit.requestid import current_request_id


def record(
    *,
    session: Session,
    case: Case,
    actor: Actor | None,
    kind: str,
    now: datetime,
    trigger: str | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    data: dict[str, Any] | None = None,
    comment: str | None = None,
    basis: str | None = None,
) -> AuditEvent:
    """Append the event for the change that brought `case` to its current version."""
    event = AuditEvent(
        case_id=case.id,
        seq=case.version,
        at=now,
        kind=kind,
        actor_id=actor.user_id if actor else None,
        actor_roles=sorted(actor.roles) if actor else ["system"],
        actor_agency=actor.agency if actor else None,
        workflow_version=case.workflow_version,
        trigger=trigger,
        from_state=from_state,
        to_state=to_state,
        data=data or {},
        comment=comment,
        basis=basis,
        request_id=current_request_id(),
    )
    event.prev_hash = chain.previous_hash(session, case.id, event.seq)
    event.hash = chain.compute_hash(event)
    session.add(event)
    return event
