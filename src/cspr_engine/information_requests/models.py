"""Table: information requests to agencies and their returns."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from cspr_engine.kit.tables import UTCDateTime, json_type


class InformationRequest(SQLModel, table=True):
    __tablename__ = "information_requests"
    __table_args__ = (
        Index("ix_information_requests_case", "case_id", "requested_at"),
        # A referrer reads the cases its agency was asked to contribute to (access.policy).
        Index("ix_information_requests_agency", "partnership_id", "agency", "case_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="cases.id", ondelete="RESTRICT")
    partnership_id: uuid.UUID = Field(foreign_key="partnerships.id", ondelete="RESTRICT")
    number: int  # 1, 2, 3 ... within the case
    agency: str = Field(max_length=32)  # the agency asked
    asked: str = Field(sa_type=Text)  # what is asked for
    due_on: date
    status: str = Field(max_length=16)  # open | answered | withdrawn
    requested_by: uuid.UUID = Field(foreign_key="users.id", ondelete="RESTRICT")
    requested_at: datetime = Field(sa_type=UTCDateTime)
    # The return, once answered.
    answered_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="RESTRICT")
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answered_on: date | None = None
    response: dict[str, Any] = Field(default_factory=dict, sa_type=json_type())
    document_id: uuid.UUID | None = Field(
        default=None, foreign_key="documents.id", ondelete="RESTRICT"
    )
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    withdrawn_reason: str | None = Field(default=None, sa_type=Text)
    version: int = 1
