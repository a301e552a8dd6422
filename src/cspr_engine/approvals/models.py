"""Table: votes cast on approval gates. Every vote is kept; the latest per party counts."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from cspr_engine.kit.tables import UTCDateTime


class ApprovalVote(SQLModel, table=True):
    __tablename__ = "approval_votes"
    __table_args__ = (Index("ix_approval_votes_case_gate", "case_id", "gate", "round"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="cases.id", ondelete="RESTRICT")
    gate: str = Field(max_length=64)
    # The case version at which the gate's state was entered: a new round reopens the gate.
    round: int
    seq: int
    party: str = Field(max_length=100)
    agency: str | None = Field(default=None, max_length=32)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="RESTRICT")
    decision: str = Field(max_length=64)
    rationale: str = Field(sa_type=Text)
    decided_on: date
    cast_at: datetime = Field(sa_type=UTCDateTime)
