"""Queries behind the reports: a partnership's cases, the transitions on their audit trails,
their statutory clocks and improvement actions; the cases a caller can read, with their clocks.
Nothing here commits."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from cspr_engine.access import policy
from cspr_engine.accounts.models import Partnership
from cspr_engine.accounts.schemas import Actor
from cspr_engine.actions.models import ImprovementAction
from cspr_engine.audit.models import AuditEvent
from cspr_engine.cases.models import Case
from cspr_engine.deadlines.models import Deadline

TRANSITIONED = "case.transitioned"


@dataclass(frozen=True)
class CaseKey:
    id: uuid.UUID
    reference: str
    became_aware_on: date
    workflow: str = ""


@dataclass(frozen=True)
class Transition:
    case_id: uuid.UUID
    trigger: str
    data: dict[str, Any]
    at: datetime


@dataclass(frozen=True)
class ActionRow:
    status: str
    due_on: date
    completed_on: date | None


def partnership_cases(session: Session, partnership_id: uuid.UUID) -> list[CaseKey]:
    """Every case of the partnership (its own, never one shared with it): id, reference and
    the day the local authority became aware."""
    rows = session.exec(
        select(
            col(Case.id), col(Case.reference), col(Case.became_aware_on), col(Case.workflow)
        ).where(col(Case.partnership_id) == partnership_id)
    )
    return [CaseKey(id=i, reference=r, became_aware_on=d, workflow=w) for i, r, d, w in rows]


def transitions(
    session: Session, partnership_id: uuid.UUID, triggers: Iterable[str]
) -> list[Transition]:
    """Every firing of `triggers` on the partnership's cases, from their audit trails."""
    rows = session.exec(
        select(AuditEvent.case_id, AuditEvent.trigger, AuditEvent.data, AuditEvent.at)
        .join(Case, col(Case.id) == col(AuditEvent.case_id))
        .where(
            col(Case.partnership_id) == partnership_id,
            col(AuditEvent.kind) == TRANSITIONED,
            col(AuditEvent.trigger).in_(sorted(set(triggers))),
        )
        .order_by(col(AuditEvent.case_id), col(AuditEvent.seq))
    )
    return [Transition(case_id=c, trigger=t or "", data=dict(d or {}), at=a) for c, t, d, a in rows]


def statutory_clocks_due(
    session: Session, partnership_id: uuid.UUID, start: date, end: date
) -> list[Deadline]:
    """The partnership's statutory case clocks (not clocks of a case's records) whose due date
    falls from `start` to `end`, both included."""
    return list(
        session.exec(
            select(Deadline)
            .where(
                col(Deadline.partnership_id) == partnership_id,
                col(Deadline.kind) == "statutory",
                col(Deadline.subject_id).is_(None),
                col(Deadline.due_on) >= start,
                col(Deadline.due_on) <= end,
            )
            .order_by(col(Deadline.due_on), col(Deadline.key), col(Deadline.id))
        )
    )


def partnership_actions(session: Session, partnership_id: uuid.UUID) -> list[ActionRow]:
    rows = session.exec(
        select(
            col(ImprovementAction.status),
            col(ImprovementAction.due_on),
            col(ImprovementAction.completed_on),
        ).where(col(ImprovementAction.partnership_id) == partnership_id)
    )
    return [ActionRow(status=s, due_on=d, completed_on=c) for s, d, c in rows]


@dataclass(frozen=True)
class ExportCase:
    id: uuid.UUID
    reference: str
    partnership: str
    workflow: str
    workflow_version: int
    state: str
    referring_agency: str
    partner_reference: str | None
    became_aware_on: date
    created_at: datetime
    closed_at: datetime | None


def readable_cases(session: Session, actor: Actor) -> list[ExportCase]:
    """The cases `actor` may read (those `GET /cases` lists), oldest first: the columns the
    export shows, and no others (never the incident, the child or the summary)."""
    rows = session.execute(
        sa_select(
            col(Case.id),
            col(Case.reference),
            col(Partnership.code),
            col(Case.workflow),
            col(Case.workflow_version),
            col(Case.state),
            col(Case.referring_agency),
            col(Case.partner_reference),
            col(Case.became_aware_on),
            col(Case.created_at),
            col(Case.closed_at),
        )
        .join(Partnership, col(Partnership.id) == col(Case.partnership_id))
        .where(policy.readable_cases(actor))
        .order_by(col(Case.created_at), col(Case.id))
    )
    return [ExportCase(*row) for row in rows]


def readable_statutory_clocks(session: Session, actor: Actor) -> list[Deadline]:
    """The statutory case clocks of the cases `actor` may read, each case's in the order they
    started."""
    return list(
        session.exec(
            select(Deadline)
            .join(Case, col(Case.id) == col(Deadline.case_id))
            .where(
                policy.readable_cases(actor),
                col(Deadline.kind) == "statutory",
                col(Deadline.subject_id).is_(None),
            )
            .order_by(col(Deadline.case_id), col(Deadline.key), col(Deadline.sequence))
        )
    )
