"""HTTP for the alert inbox and webhook subscriptions."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from sqlalchemy import tuple_
from sqlmodel import Session, col, select

from cspr_engine.access import policy
from cspr_engine.accounts.dependencies import ActorDep, SettingsDep
from cspr_engine.accounts.models import Partnership
from cspr_engine.accounts.schemas import Actor
from cspr_engine.admin_audit import service as admin_audit
from cspr_engine.alerts.models import AlertRecipient, OutboxEvent, WebhookSubscription
from cspr_engine.alerts.schemas import (
    AlertList,
    AlertRead,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookRead,
)
from cspr_engine.alerts.secrets import new_secret
from cspr_engine.cases.models import Case
from cspr_engine.db import SessionDep
from cspr_engine.errors import (
    FieldError,
    Forbidden,
    InvalidData,
    InvalidQuery,
    MalformedBody,
    NotFound,
    error_responses,
)
from cspr_engine.kit import outbound
from cspr_engine.kit.clock import ClockDep
from cspr_engine.kit.outbound import DestinationRefused
from cspr_engine.kit.pagination import (
    CursorQuery,
    LimitQuery,
    decode_keyset,
    encode_keyset,
)

router = APIRouter(tags=["alerts"])


class WebhookNotFound(NotFound):
    slug, title = "webhook-not-found", "No such webhook subscription"


@router.get(
    "/alerts",
    response_model=AlertList,
    summary="Your alert inbox: alerts addressed to your roles, newest first",
    responses=error_responses(),
)
def inbox(
    session: SessionDep, actor: ActorDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> AlertList:
    if actor.partnership_id is None or not actor.roles:
        return AlertList(items=[], next_cursor=None)
    query = (
        select(OutboxEvent)
        .join(AlertRecipient, col(AlertRecipient.event_id) == col(OutboxEvent.id))
        .outerjoin(Case, col(Case.id) == col(OutboxEvent.case_id))
        .where(
            col(AlertRecipient.partnership_id) == actor.partnership_id,
            col(AlertRecipient.role).in_(sorted(actor.roles)),
            # Addressed to every agency's holders of the role, or to the caller's agency.
            col(AlertRecipient.agency).in_(sorted({"", actor.agency or ""})),
            # An alert about a case shows only to those who may read the case.
            col(OutboxEvent.case_id).is_(None) | policy.readable_cases(actor),
        )
        .distinct()
        .order_by(col(OutboxEvent.occurred_at).desc(), col(OutboxEvent.id).desc())
        .limit(limit + 1)
    )
    if (after := decode_keyset(cursor)) is not None:
        query = query.where(tuple_(col(OutboxEvent.occurred_at), col(OutboxEvent.id)) < after)
    rows = list(session.exec(query))
    page = rows[:limit]
    return AlertList(
        items=[
            AlertRead(
                id=e.id,
                type=e.type,
                occurred_at=e.occurred_at,
                case_id=e.case_id,
                case_reference=e.payload.get("case_reference"),
                data=e.payload.get("data", {}),
            )
            for e in page
        ],
        next_cursor=(
            encode_keyset(page[-1].occurred_at, page[-1].id) if len(rows) > limit else None
        ),
    )


def _admin_partnership(session: Session, actor: Actor, code: str | None) -> Partnership:
    if actor.is_platform_admin:
        if code is None:
            raise InvalidQuery("A platform admin names the partnership.", parameter="partnership")
        found = session.exec(
            select(Partnership).where(col(Partnership.code) == code.upper())
        ).first()
        if found is None:
            raise InvalidQuery(f"There is no partnership {code!r}.", parameter="partnership")
        return found
    if not policy.may(actor, policy.Permission.manage_webhooks) or actor.partnership_id is None:
        raise Forbidden("Only an administrator manages webhook subscriptions.")
    own = session.get(Partnership, actor.partnership_id)
    if own is None or (code is not None and code.upper() != own.code):
        raise Forbidden("An administrator manages its own partnership's subscriptions.")
    return own


def _read(sub: WebhookSubscription, code: str) -> WebhookRead:
    return WebhookRead(
        id=sub.id,
        partnership=code,
        url=sub.url,
        events=sub.events,
        created_at=sub.created_at,
        disabled_at=sub.disabled_at,
    )


@router.post(
    "/webhooks",
    response_model=WebhookCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Subscribe a public https URL to events (signed with the Standard Webhooks scheme; "
    "the secret is made for you when you give none)",
    responses=error_responses(MalformedBody, InvalidData, Forbidden),
)
def create_webhook(
    body: WebhookCreate,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> WebhookCreated:
    partnership = _admin_partnership(session, actor, body.partnership)
    try:
        outbound.check(body.url, settings.webhook_destinations, unresolvable_ok=True)
    except DestinationRefused as exc:
        raise InvalidData(
            [FieldError(loc="url", message=f"{exc.message} (rule: {exc.rule})", type=exc.rule)]
        ) from exc
    made = body.secret is None
    sub = WebhookSubscription(
        partnership_id=partnership.id,
        url=body.url,
        events=list(body.events),
        secret=body.secret or new_secret(),
        created_by=actor.user_id,
        created_at=clock.now(),
    )
    session.add(sub)
    session.flush()
    admin_audit.record(
        session,
        kind="webhook.created",
        partnership_id=partnership.id,
        actor_id=actor.user_id,
        subject_type="webhook",
        subject_id=sub.id,
        now=clock.now(),
        after={"url": sub.url, "events": sub.events, "secret_made_here": made},
    )
    shown = WebhookCreated(
        **_read(sub, partnership.code).model_dump(), secret=sub.secret if made else None
    )
    session.commit()
    return shown


@router.get(
    "/webhooks",
    response_model=WebhookList,
    summary="Webhook subscriptions, oldest first (secrets are never shown)",
    responses=error_responses(Forbidden),
)
def list_webhooks(
    session: SessionDep,
    actor: ActorDep,
    partnership: Annotated[
        str | None,
        Query(max_length=16, description="A partnership's code (platform admins name one)."),
    ] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> WebhookList:
    after = decode_keyset(cursor)
    owner = _admin_partnership(session, actor, partnership)
    query = (
        select(WebhookSubscription)
        .where(col(WebhookSubscription.partnership_id) == owner.id)
        .order_by(col(WebhookSubscription.created_at), col(WebhookSubscription.id))
        .limit(limit + 1)
    )
    if after is not None:
        key = tuple_(col(WebhookSubscription.created_at), col(WebhookSubscription.id))
        query = query.where(key > after)
    rows = list(session.exec(query))
    page = rows[:limit]
    return WebhookList(
        items=[_read(s, owner.code) for s in page],
        next_cursor=(
            encode_keyset(page[-1].created_at, page[-1].id) if len(rows) > limit else None
        ),
    )


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Stop a subscription (deliveries already made stay on record)",
    responses=error_responses(Forbidden, WebhookNotFound),
)
def delete_webhook(
    webhook_id: Annotated[uuid.UUID, Path()],
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
) -> Response:
    sub = session.get(WebhookSubscription, webhook_id)
    owner_code = None
    if sub is not None:
        owner = session.get(Partnership, sub.partnership_id)
        owner_code = owner.code if owner else None
    try:
        mine = _admin_partnership(session, actor, owner_code if actor.is_platform_admin else None)
    except InvalidQuery as exc:
        raise WebhookNotFound("No such webhook subscription.") from exc
    if sub is None or sub.partnership_id != mine.id or sub.disabled_at is not None:
        raise WebhookNotFound("No such webhook subscription.")
    sub.disabled_at = clock.now()
    admin_audit.record(
        session,
        kind="webhook.removed",
        partnership_id=sub.partnership_id,
        actor_id=actor.user_id,
        subject_type="webhook",
        subject_id=sub.id,
        now=clock.now(),
        before={"url": sub.url, "events": sub.events},
    )
    session.commit()
    return Response(status_code=204)
