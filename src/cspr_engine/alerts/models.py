"""Tables: outbox events (one per alert, with a stable id), who should see them, webhook
subscriptions, deliveries (one per event and destination) and every delivery attempt."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from cspr_engine.kit.tables import UTCDateTime, json_type


class OutboxEvent(SQLModel, table=True):
    __tablename__ = "outbox_events"

    # The alert's id, sent as webhook-id and kept across every retry.
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # What makes the event unique (e.g. a clock, a rung and a due date): written once only.
    dedupe_key: str = Field(max_length=200, unique=True)
    type: str = Field(max_length=64)
    partnership_id: uuid.UUID = Field(foreign_key="partnerships.id", ondelete="RESTRICT")
    case_id: uuid.UUID | None = Field(default=None, foreign_key="cases.id", ondelete="RESTRICT")
    payload: dict[str, Any] = Field(sa_type=json_type())
    occurred_at: datetime = Field(sa_type=UTCDateTime)


class AlertRecipient(SQLModel, table=True):
    """An event addressed to a role in a partnership (`agency` "" for every agency's, else
    that agency's alone): it shows in those users' inboxes."""

    __tablename__ = "alert_recipients"
    __table_args__ = (
        Index("ix_alert_recipients_inbox", "partnership_id", "role", "occurred_at", "event_id"),
    )

    event_id: uuid.UUID = Field(
        foreign_key="outbox_events.id", ondelete="CASCADE", primary_key=True
    )
    role: str = Field(max_length=32, primary_key=True)
    agency: str = Field(
        default="", max_length=32, primary_key=True, sa_column_kwargs={"server_default": ""}
    )
    partnership_id: uuid.UUID = Field(foreign_key="partnerships.id", ondelete="RESTRICT")
    occurred_at: datetime = Field(sa_type=UTCDateTime)


class WebhookSubscription(SQLModel, table=True):
    __tablename__ = "webhook_subscriptions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    partnership_id: uuid.UUID = Field(
        foreign_key="partnerships.id", ondelete="RESTRICT", index=True
    )
    url: str = Field(max_length=2000)
    events: list[str] = Field(default_factory=list, sa_type=json_type())
    # Needed in clear to sign each delivery (Standard Webhooks HMAC); never returned by the API.
    secret: str = Field(max_length=200)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = Field(sa_type=UTCDateTime)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Delivery(SQLModel, table=True):
    """One event to one destination: a webhook subscription or an e-mail address."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "channel", "target"),
        Index(
            "ix_alert_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    event_id: uuid.UUID = Field(foreign_key="outbox_events.id", ondelete="RESTRICT", index=True)
    channel: str = Field(max_length=16)  # webhook | email
    target: str = Field(max_length=320)  # subscription id, or e-mail address
    status: str = Field(max_length=16, default="pending")  # pending | delivered | dead
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    # A sender holds a claimed row until this instant; if it dies, the row is taken again.
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime)


class DeliveryAttempt(SQLModel, table=True):
    __tablename__ = "delivery_attempts"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    delivery_id: uuid.UUID = Field(
        foreign_key="alert_deliveries.id", ondelete="RESTRICT", index=True
    )
    attempt: int
    at: datetime = Field(sa_type=UTCDateTime)
    succeeded: bool
    status_code: int | None = None
    response: str | None = Field(default=None, max_length=2048)
    error: str | None = Field(default=None, max_length=500)
    duration_ms: int
