"""Queries of the administrative audit; never commits."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import tuple_
from sqlmodel import Session, col, select

from cspr_engine.accounts.models import Partnership, User
from cspr_engine.admin_audit.models import AdminEvent


def newest_first(
    session: Session,
    *,
    partnership_id: uuid.UUID | None,
    everything: bool,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[tuple[AdminEvent, str | None, User | None]]:
    """A partnership's events (or, with `everything`, every partnership's and the platform's),
    newest first, with each one's partnership code and actor."""
    query = (
        select(AdminEvent, col(Partnership.code), User)
        .outerjoin(Partnership, col(Partnership.id) == col(AdminEvent.partnership_id))
        .outerjoin(User, col(User.id) == col(AdminEvent.actor_id))
        .order_by(col(AdminEvent.at).desc(), col(AdminEvent.id).desc())
        .limit(limit)
    )
    if not everything:
        query = query.where(col(AdminEvent.partnership_id) == partnership_id)
    if before is not None:
        query = query.where(tuple_(col(AdminEvent.at), col(AdminEvent.id)) < before)
    return [(event, code, user) for event, code, user in session.exec(query)]
