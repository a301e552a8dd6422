"""Reading the access log. Rows are written by access.middleware only, and never changed."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import tuple_
from sqlmodel import Session, col, select

from cspr_engine.audit.models import AccessEvent


def events_for_case(
    session: Session,
    case_id: uuid.UUID,
    *,
    before: tuple[datetime, uuid.UUID] | None = None,
    limit: int = 50,
) -> list[AccessEvent]:
    """Newest first, keyset-paginated on (at, id) (ix_access_events_case_at)."""
    query = select(AccessEvent).where(col(AccessEvent.case_id) == case_id)
    if before is not None:
        query = query.where(tuple_(col(AccessEvent.at), col(AccessEvent.id)) < tuple_(*before))
    query = query.order_by(col(AccessEvent.at).desc(), col(AccessEvent.id).desc()).limit(limit)
    return list(session.exec(query))
