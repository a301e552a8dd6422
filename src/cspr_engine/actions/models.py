"""Tables: improvement actions and every update to them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from cspr_engine.kit.tables import UTCDateTime, json_type


class ImprovementAction(SQLModel, table=True):
    __tablename__ = "improvement_actions"
    __table_args__ = (
        UniqueConstraint("case_id", "number"),
        Index("ix_improvement_actions_owner", "partnership_id", "owner_agency", "status"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="cases.id", ondelete="RESTRICT")
    partnership_id: uuid.UUID = Field(foreign_key="partnerships.id", ondelete="RESTRICT")
    number: int  # A1, A2 ... within the case
    source: str = Field(max_length=32)  # immediate_action | recommendation | other
    description: str = Field(sa_type=Text)
    owner_agency: str = Field(max_length=32)
    due_on: date
    status: str = Field(max_length=32)  # open | in_progress | completed | closed_with_rationale
    completed_on: date | None = None
    closure_rationale: str | None = Field(default=None, sa_type=Text)
    evidence_of_impact: str | None = Field(default=None, sa_type=Text)
    created_by: uuid.UUID = Field(foreign_key="users.id", ondelete="RESTRICT")
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    version: int = 1


class ActionUpdate(SQLModel, table=True):
    """One change to an action: who, when, what changed (from -> to) and the note given."""

    __tablename__ = "improvement_action_updates"
    __table_args__ = (UniqueConstraint("action_id", "seq"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    action_id: uuid.UUID = Field(foreign_key="improvement_actions.id", ondelete="RESTRICT")
    seq: int
    at: datetime = Field(sa_type=UTCDateTime)
    actor_id: uuid.UUID = Field(foreign_key="users.id", ondelete="RESTRICT")
    changes: dict[str, Any] = Field(default_factory=dict, sa_type=json_type())
    note: str | None = Field(default=None, sa_type=Text)
