"""Tables: cases and the per-partnership counters behind their human-readable references.

No child's name, address, date of birth or NHS number is ever stored: partners keep those in
their own systems and link by `partner_reference`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from cspr_engine.kit.tables import UTCDateTime, json_type


class Case(SQLModel, table=True):
    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("partnership_id", "reference"),
        Index("ix_cases_partnership_created", "partnership_id", "created_at", "id"),
        # A partnership's list filtered by state, newest first: walked in order, stopping at
        # the page's end, however many cases the partnership has had.
        Index("ix_cases_partnership_state_created", "partnership_id", "state", "created_at", "id"),
        Index("ix_cases_partnership_partner_reference", "partnership_id", "partner_reference"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    partnership_id: uuid.UUID = Field(foreign_key="partnerships.id", ondelete="RESTRICT")
    reference: str = Field(max_length=32)
    workflow: str = Field(max_length=64)
    workflow_version: int
    state: str = Field(max_length=64)
    # Bumped by every change; the ETag, and the sequence number of the change's audit event.
    version: int = 1
    state_entered_version: int = 1
    # The partnership's configuration version in force when the case was opened: its clocks
    # count by it for the rest of the case's life (configuration/). None: no configuration.
    config_version: int | None = None
    partner_reference: str | None = Field(default=None, max_length=100)
    referring_agency: str = Field(max_length=32)
    became_aware_on: date
    incident: dict[str, Any] = Field(default_factory=dict, sa_type=json_type())
    child: dict[str, Any] = Field(default_factory=dict, sa_type=json_type())
    summary: str | None = Field(default=None, sa_type=Text)
    # The latest data recorded by each trigger, keyed by trigger name (guards read it).
    recorded: dict[str, Any] = Field(default_factory=dict, sa_type=json_type())
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    state_entered_at: datetime = Field(sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class CaseReferenceCounter(SQLModel, table=True):
    __tablename__ = "case_reference_counters"

    partnership_id: uuid.UUID = Field(
        foreign_key="partnerships.id", ondelete="CASCADE", primary_key=True
    )
    year: int = Field(primary_key=True)
    last: int = 0
