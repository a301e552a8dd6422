"""Table: administrative events. Rows are only ever inserted (on PostgreSQL a trigger refuses
an UPDATE or DELETE). They hold ids, names and settings, never a secret: no password, no
password hash, no token or its hash, no webhook secret."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from cspr_engine.kit.tables import UTCDateTime, json_type


class AdminEvent(SQLModel, table=True):
    __tablename__ = "admin_events"
    __table_args__ = (Index("ix_admin_events_partnership_at", "partnership_id", "at", "id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    # Whose change it is: a partnership's (its people read it), or None for a platform change.
    partnership_id: uuid.UUID | None = Field(
        default=None, foreign_key="partnerships.id", ondelete="RESTRICT"
    )
    # Who made it: a user, or None for the command line on the service's own host.
    actor_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="RESTRICT")
    kind: str = Field(max_length=64)  # e.g. user.created, token.issued, calendar.day_added
    subject_type: str = Field(max_length=32)  # user, token, webhook, calendar, ...
    subject_id: str = Field(max_length=64)
    before: dict[str, Any] | None = Field(default=None, sa_type=json_type())
    after: dict[str, Any] | None = Field(default=None, sa_type=json_type())
    request_id: str | None = Field(default=None, max_length=64)
