"""Recording administrative events (the callers own the transaction: the event commits with
the change it describes, or not at all)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Session

from cspr_engine.access import policy
from cspr_engine.accounts import repository as accounts_repository
from cspr_engine.accounts.schemas import Actor
from cspr_engine.admin_audit import repository
from cspr_engine.admin_audit.models import AdminEvent
from cspr_engine.admin_audit.schemas import AdminActor, AdminEventList, AdminEventRead
from cspr_engine.errors import Forbidden, NotFound
from cspr_engine.kit.pagination import decode_keyset, encode_keyset
from cspr_engine.kit.requestid import current_request_id


def record(
    session: Session,
    *,
    kind: str,
    partnership_id: uuid.UUID | None,
    actor_id: uuid.UUID | None,
    subject_type: str,
    subject_id: uuid.UUID | str,
    now: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AdminEvent:
    event = AdminEvent(
        at=now,
        partnership_id=partnership_id,
        actor_id=actor_id,
        kind=kind,
        subject_type=subject_type,
        subject_id=str(subject_id),
        before=before,
        after=after,
        request_id=current_request_id(),
    )
    session.add(event)
    return event


def page(
    session: Session,
    *,
    actor: Actor,
    partnership: str | None,
    limit: int,
    cursor: str | None,
) -> AdminEventList:
    """The events `actor` may read, newest first: a panel chair's or scrutineer's own
    partnership's; a platform admin's, every one (or one partnership's, named)."""
    before = decode_keyset(cursor)
    everything, partnership_id = False, actor.partnership_id
    if actor.is_platform_admin:
        everything = partnership is None
        if partnership is not None:
            found = accounts_repository.partnership_by_code(session, partnership.upper())
            if found is None:
                raise NotFound(f"There is no partnership {partnership}.")
            partnership_id = found.id
    elif not policy.may(actor, policy.Permission.read_admin_audit):
        raise Forbidden(
            "The administrative audit is read by the partnership's panel chair and scrutineer."
        )
    rows = repository.newest_first(
        session,
        partnership_id=partnership_id,
        everything=everything,
        before=before,
        limit=limit + 1,
    )
    shown = rows[:limit]
    return AdminEventList(
        items=[
            AdminEventRead(
                id=event.id,
                at=event.at,
                partnership=code,
                actor=(
                    AdminActor(id=user.id, display_name=user.display_name, email=user.email)
                    if user
                    else None
                ),
                kind=event.kind,
                subject_type=event.subject_type,
                subject_id=event.subject_id,
                before=event.before,
                after=event.after,
                request_id=event.request_id,
            )
            for event, code, user in shown
        ],
        next_cursor=(
            encode_keyset(shown[-1][0].at, shown[-1][0].id) if len(rows) > limit else None
        ),
    )
