"""Enqueue alerts in the caller's transaction (the outbox), with their deliveries.

An event is written once per dedupe key: a sweep that fires a rung twice, or two sweeps that
race, write one event. Each event carries a stable id that every delivery attempt repeats, so
receivers can deduplicate. Nothing here commits; nothing here sends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from cspr_engine.accounts import repository as accounts_repository
from cspr_engine.accounts.models import User
from cspr_engine.alerts.models import AlertRecipient, Delivery, OutboxEvent, WebhookSubscription
from cspr_engine.cases.models import Case
from cspr_engine.config import get_settings
from cspr_engine.workflow.definitions import RoleRef

EVENT_TYPES = (
    "case.created",
    "case.transitioned",
    "deadline.warning",
    "deadline.breached",
    "deadline.escalated",
    "approval.disputed",
    "action.overdue",
    "information_request.overdue",
    "case.migrated",  # moved to a new version of its workflow (workflow/versioning.py)
    # An administrator gave a service account a role that reads cases, or set another
    # person's password: the partnership's panel chair is told (admin_audit).
    "admin.case_reader_created",
    "admin.password_set",
)


def _iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def enqueue(
    session: Session,
    *,
    type: str,
    dedupe_key: str,
    case: Case,
    data: dict[str, Any],
    now: datetime,
    recipients: Iterable[str] = (),
    fresh: bool = False,
) -> OutboxEvent | None:
    """Write the event, its inbox entries and one delivery per destination; None if an event
    with this dedupe key exists already. `fresh`: the caller's transaction owns the key (it
    names a case version this transaction claimed), so no other can have written it."""
    return _enqueue(
        session,
        type=type,
        dedupe_key=dedupe_key,
        partnership_id=case.partnership_id,
        case=case,
        data=data,
        now=now,
        recipients=recipients,
        fresh=fresh,
    )


def enqueue_for_partnership(
    session: Session,
    *,
    type: str,
    partnership_id: uuid.UUID,
    data: dict[str, Any],
    now: datetime,
    recipients: Iterable[str],
) -> OutboxEvent | None:
    """An alert about no case (an administrator's act), to the roles named in `recipients`
    of one partnership: in their inboxes, by e-mail, and to the webhooks subscribed to it."""
    return _enqueue(
        session,
        type=type,
        dedupe_key=f"{type}:{uuid.uuid4()}",
        partnership_id=partnership_id,
        case=None,
        data=data,
        now=now,
        recipients=recipients,
        fresh=False,
    )


def _enqueue(
    session: Session,
    *,
    type: str,
    dedupe_key: str,
    partnership_id: uuid.UUID,
    case: Case | None,
    data: dict[str, Any],
    now: datetime,
    recipients: Iterable[str],
    fresh: bool,
) -> OutboxEvent | None:
    if (
        not fresh
        and session.exec(
            select(OutboxEvent.id).where(col(OutboxEvent.dedupe_key) == dedupe_key)
        ).first()
    ):
        return None
    recipients = sorted(set(recipients))
    event = OutboxEvent(
        dedupe_key=dedupe_key,
        type=type,
        partnership_id=partnership_id,
        case_id=case.id if case is not None else None,
        payload={},
        occurred_at=now,
    )
    event.payload = {
        "id": str(event.id),
        "type": type,
        "occurred_at": _iso(now),
        "partnership": accounts_repository.partnership_code(session, partnership_id),
        "case_id": str(case.id) if case is not None else None,
        "case_reference": case.reference if case is not None else None,
        "data": {**data, "recipients": recipients},
    }
    if fresh:
        session.add(event)
    else:
        try:
            with session.begin_nested():
                session.add(event)
                session.flush()
        except IntegrityError:
            # Another transaction wrote the same key between our check and our insert.
            return None
    addressed = addresses(recipients)
    for role, agency in addressed:
        session.add(
            AlertRecipient(
                event_id=event.id,
                role=role,
                agency=agency,
                partnership_id=partnership_id,
                occurred_at=now,
            )
        )
    for target_channel, target in _destinations(session, partnership_id, type, addressed):
        session.add(
            Delivery(
                event_id=event.id,
                channel=target_channel,
                target=target,
                next_attempt_at=now,
                created_at=now,
            )
        )
    session.flush()
    return event


def addresses(recipients: Iterable[str]) -> list[tuple[str, str]]:
    """(role, agency) pairs, agency "" for every agency's; a role addressed to every agency
    covers any narrower address of it (`dsp` covers `dsp:police`)."""
    pairs = {(ref.role, ref.agency or "") for ref in map(RoleRef.parse, recipients)}
    wide = {role for role, agency in pairs if agency == ""}
    return sorted((role, agency) for role, agency in pairs if agency == "" or role not in wide)


def _reaches(user: User, addressed: list[tuple[str, str]]) -> bool:
    return any(
        role in user.roles and (agency == "" or user.agency == agency) for role, agency in addressed
    )


def _destinations(
    session: Session, partnership_id: uuid.UUID, type: str, addressed: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    # Two columns, not the rows: every change a case goes through asks this.
    subscriptions = session.exec(
        select(col(WebhookSubscription.id), col(WebhookSubscription.events)).where(
            col(WebhookSubscription.partnership_id) == partnership_id,
            col(WebhookSubscription.disabled_at).is_(None),
        )
    )
    for sub_id, events in subscriptions:
        if type in events or "*" in events:
            found.append(("webhook", str(sub_id)))
    if addressed and get_settings().smtp_host:
        people = session.exec(
            select(User).where(
                col(User.partnership_id) == partnership_id, col(User.is_active).is_(True)
            )
        )
        for user in people:
            if _reaches(user, addressed):
                found.append(("email", user.email))
    return found
