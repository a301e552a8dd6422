"""Reading the audit trail."""

from __future__ import annotations

import uuid

from sqlmodel import Session, col, select

from cspr_engine.audit.models import AuditEvent


def events_for_case(
    session: Session, case_id: uuid.UUID, *, after_seq: int = 0, limit: int = 50
) -> list[AuditEvent]:
    return list(
        session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.case_id) == case_id, col(AuditEvent.seq) > after_seq)
            .order_by(col(AuditEvent.seq))
            .limit(limit)
        )
    )
