"""Table: audit events. Rows are only ever inserted; there is no update or delete path (and on
PostgreSQL a trigger refuses one)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from cspr_engine.kit.tables import UTCDateTime, json_type


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # RESTRICT: a case with history cannot be deleted out from under its audit trail.
    case_id: uuid.UUID = Field(foreign_key="cases.id", ondelete="RESTRICT")
    seq: int
    at: datetime = Field(sa_type=UTCDateTime)
    kind: str = Field(max_length=64)
    actor_id: uuid.UUID | None = None
    actor_roles: list[str] = Field(default_factory=list, sa_type=json_type())
    actor_agency: str | None = Field(default=None, max_length=32)
    workflow_version: int
    trigger: str | None = Field(default=None, max_length=64)
    from_state: str | None = Field(default=None, max_length=64)
    to_state: str | None = Field(default=None, max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=json_type())
    comment: str | None = Field(default=None, sa_type=Text)
    basis: str | None = Field(default=None, sa_type=Text)
    request_id: str | None = Field(default=None, max_length=64)
    # Tamper evidence: each event's hash covers its content and the hash of the case's
    # previous event, so changing, removing or reordering any event breaks the chain.
    prev_hash: str | None = Field(default=None, max_length=64)
    hash: str = Field(default="", max_length=64)


class AccessEvent(SQLModel, table=True):
    """Every request that reads, changes or tries to reach a case, allowed or not. Kept apart
    from the case's own chain: a read changes nothing, and a denied attempt may name a case
    the caller must not learn exists."""

    __tablename__ = "access_events"
    __table_args__ = (
        Index("ix_access_events_case_at", "case_id", "at"),
        Index("ix_access_events_actor_at", "actor_id", "at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    actor_id: uuid.UUID | None = None
    token_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    method: str = Field(max_length=10)
    path: str = Field(max_length=300)
    action: str = Field(max_length=64)  # e.g. case.read, case.list, case.transition
    case_id: uuid.UUID | None = None  # no foreign key: a denied attempt may name no real case
    outcome: str = Field(max_length=16)  # allowed | denied
    status: int | None = None
    request_id: str | None = Field(default=None, max_length=64)
