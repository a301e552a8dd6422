"""Queries on workflow configurations. Nothing here commits."""

from __future__ import annotations

import uuid

from sqlmodel import Session, col, select

from cspr_engine.configuration.models import WorkflowConfiguration


def current(
    session: Session, partnership_id: uuid.UUID, workflow: str
) -> WorkflowConfiguration | None:
    return session.exec(
        select(WorkflowConfiguration)
        .where(
            col(WorkflowConfiguration.partnership_id) == partnership_id,
            col(WorkflowConfiguration.workflow) == workflow,
        )
        .order_by(col(WorkflowConfiguration.version).desc())
    ).first()


def version(
    session: Session, partnership_id: uuid.UUID, workflow: str, number: int
) -> WorkflowConfiguration | None:
    return session.exec(
        select(WorkflowConfiguration).where(
            col(WorkflowConfiguration.partnership_id) == partnership_id,
            col(WorkflowConfiguration.workflow) == workflow,
            col(WorkflowConfiguration.version) == number,
        )
    ).first()


def versions_page(
    session: Session, partnership_id: uuid.UUID, workflow: str, *, before: int | None, limit: int
) -> list[WorkflowConfiguration]:
    """Newest first."""
    query = select(WorkflowConfiguration).where(
        col(WorkflowConfiguration.partnership_id) == partnership_id,
        col(WorkflowConfiguration.workflow) == workflow,
    )
    if before is not None:
        query = query.where(col(WorkflowConfiguration.version) < before)
    return list(
        session.exec(query.order_by(col(WorkflowConfiguration.version).desc()).limit(limit))
    )
