"""API shapes for information requests and the returns that answer them. The return is a
structured summary of the agency's involvement: never the child's name, address, date of birth
or NHS number (partners link by their own references)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, field_validator

from cspr_engine.accounts.schemas import Agency
from cspr_engine.kit.schemas import IsoDate, StrictModel

MAX_AGENCIES = 8
DEFAULT_WORKING_DAYS = 5

RequestStatus = Literal["open", "answered", "withdrawn"]
ClockStatus = Literal["pending", "met", "met_late", "breached", "cancelled"]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]


class InformationRequestCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "agencies": ["police", "health"],
                    "asked": "A chronology of your contact with the family since 2024.",
                    "due_on": "2026-11-16",
                }
            ]
        }
    )

    agencies: list[Agency] = Field(
        min_length=1,
        max_length=MAX_AGENCIES,
        description="The agencies asked; one request is made to each.",
    )
    asked: LongText = Field(description="What each agency is asked to return.")
    due_on: IsoDate | None = Field(
        default=None,
        description=(
            f"When the return is due; by default {DEFAULT_WORKING_DAYS} working days after "
            "today. Not in the past."
        ),
    )

    @field_validator("agencies")
    @classmethod
    def _each_once(cls, value: list[Agency]) -> list[Agency]:
        if len(set(value)) != len(value):
            raise ValueError("names an agency more than once")
        return value


class InformationReturnCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "known_to_agency": True,
                    "summary": "Known to health visiting since birth: routine contacts.",
                    "involvement_from": "2024-08-01",
                    "involvement_to": "2026-10-30",
                    "chronology_included": True,
                    "answered_on": "2026-11-12",
                }
            ]
        }
    )

    known_to_agency: StrictBool = Field(description="Whether the child or family is known to you.")
    summary: LongText = Field(description="The agency's summary of its involvement.")
    involvement_from: IsoDate | None = None
    involvement_to: IsoDate | None = Field(default=None, description="Not before involvement_from.")
    chronology_included: StrictBool = Field(
        default=False, description="Whether a chronology comes with the return."
    )
    document_id: uuid.UUID | None = Field(
        default=None, description="A document of the same case that carries the return."
    )
    answered_on: IsoDate | None = Field(
        default=None,
        description="When the return was made: by default today; not in the future, nor "
        "before the request.",
    )


class InformationRequestWithdraw(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "The agency had no contact with the family."}]}
    )

    reason: Reason


class InformationReturnRead(BaseModel):
    known_to_agency: bool
    summary: str
    involvement_from: date | None
    involvement_to: date | None
    chronology_included: bool
    document_id: uuid.UUID | None
    answered_on: date
    answered_by: uuid.UUID
    answered_at: datetime


class ReturnClockRead(BaseModel):
    """The request's `information_return` clock, as of now."""

    key: str
    status: ClockStatus
    overdue: bool = Field(description="The due date has passed and no return is in.")
    starts_on: date
    due_on: date
    due_at: datetime
    working_days_left: int | None
    met_on: date | None
    breached_at: datetime | None
    cancelled_at: datetime | None


class InformationRequestRead(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    case_reference: str
    number: int = Field(description="1, 2, 3 ... within the case.")
    agency: str
    asked: str
    due_on: date
    status: RequestStatus
    requested_by: uuid.UUID
    requested_at: datetime
    clock: ReturnClockRead | None
    response: InformationReturnRead | None
    withdrawn_at: datetime | None
    withdrawn_reason: str | None
    version: int


class InformationRequestList(BaseModel):
    items: list[InformationRequestRead]
    next_cursor: str | None
