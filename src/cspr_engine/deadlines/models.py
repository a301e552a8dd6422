"""Tables: deadlines (one row per clock instance), their extensions, and holidays an admin
added to the calendar."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from cspr_engine.kit.tables import UTCDateTime


class Deadline(SQLModel, table=True):
    __tablename__ = "deadlines"
    __table_args__ = (
        UniqueConstraint("case_id", "key", "sequence"),
        # The sweep's one query: rows with a rung still to fire, earliest first. Partial, so
        # its size follows the clocks still running, not every clock ever kept.
        Index(
            "ix_deadlines_next_rung_at",
            "next_rung_at",
            postgresql_where=text("next_rung_at IS NOT NULL"),
            sqlite_where=text("next_rung_at IS NOT NULL"),
        ),
        Index("ix_deadlines_case_id", "case_id"),
        Index("ix_deadlines_subject_id", "subject_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="cases.id", ondelete="RESTRICT")
    partnership_id: uuid.UUID = Field(foreign_key="partnerships.id", ondelete="RESTRICT")
    key: str = Field(max_length=64)
    sequence: int = 1  # recurring clocks: 1, 2, 3 ...
    kind: str = Field(max_length=16)  # statutory | advisory | local
    status: str = Field(max_length=16)  # pending | met | met_late | breached | cancelled
    start_option: str | None = Field(default=None, max_length=64)
    starts_on: date
    anchor_on: date | None = None  # backward clocks count back from this date
    due_on: date
    due_at: datetime = Field(sa_type=UTCDateTime)
    met_on: date | None = None
    met_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    breached_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Escalation ladder: how many rungs have fired for the current due date, and when the
    # next one falls due (NULL once nothing more can fire).
    rungs_fired: int = 0
    next_rung_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    calendar_version: str = Field(max_length=100)
    # The partnership configuration version its start, due rule and ladder came from (the
    # case's, configuration/); None: the workflow's and the service's defaults.
    config_version: int | None = None
    # A clock of one record of the case rather than of the case itself (an information
    # request, an improvement action): which record, and the agency it is addressed to (its
    # alerts go to that agency's DSP).
    subject_type: str | None = Field(default=None, max_length=32)
    subject_id: uuid.UUID | None = None
    subject_agency: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class DeadlineExtension(SQLModel, table=True):
    __tablename__ = "deadline_extensions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    deadline_id: uuid.UUID = Field(foreign_key="deadlines.id", ondelete="RESTRICT", index=True)
    previous_due_on: date
    new_due_on: date
    reason: str = Field(sa_type=Text)
    agreed_with: str | None = Field(default=None, max_length=200)
    source: str = Field(max_length=100)  # "api" or "trigger:<name>"
    actor_id: uuid.UUID | None = None
    at: datetime = Field(sa_type=UTCDateTime)


class CalendarAddition(SQLModel, table=True):
    """A non-working day proclaimed after the shipped data was made (kept even if withdrawn)."""

    __tablename__ = "calendar_additions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    day: date = Field(index=True)
    title: str = Field(max_length=200)
    reason: str | None = Field(default=None, sa_type=Text)
    added_by: uuid.UUID = Field(foreign_key="users.id", ondelete="RESTRICT")
    added_at: datetime = Field(sa_type=UTCDateTime)
    withdrawn_by: uuid.UUID | None = Field(
        default=None, foreign_key="users.id", ondelete="RESTRICT"
    )
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    withdrawn_reason: str | None = Field(default=None, sa_type=Text)
