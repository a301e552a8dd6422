"""API shapes for clocks, extensions and the calendar."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cspr_engine.kit.schemas import IsoDate, StrictModel


class ExtensionRead(BaseModel):
    previous_due_on: date
    new_due_on: date
    reason: str
    agreed_with: str | None
    source: str
    actor_id: uuid.UUID | None
    at: datetime


class DeadlineRead(BaseModel):
    key: str
    label: str
    rule: str
    basis: str
    verification: str
    kind: Literal["statutory", "advisory", "local"]
    statutory: bool
    sequence: int
    status: Literal["pending", "met", "met_late", "breached", "cancelled"]
    start_option: str | None
    starts_on: date
    anchor_on: date | None
    due_on: date
    due_at: datetime
    working_days_left: int | None
    met_on: date | None
    met_at: datetime | None
    breached_at: datetime | None
    cancelled_at: datetime | None
    next_alert_at: datetime | None
    calendar_version: str
    config_version: int | None = Field(
        default=None,
        description="The partnership configuration version its start, due rule and escalation "
        "came from (GET /api/v1/partnerships/{code}/workflows/{workflow}/configuration/versions); "
        "null: the workflow's defaults.",
    )
    subject_type: str | None = Field(
        default=None, description="A clock of one record: information_request or action."
    )
    subject_id: uuid.UUID | None = None
    subject_agency: str | None = Field(
        default=None, description="The agency the record is addressed to (its alerts go there)."
    )
    extensions: list[ExtensionRead]


class DeadlineList(BaseModel):
    """Every clock of the case, whole on one page (`next_cursor` is always null): the case
    resource carries the same list in `deadlines`."""

    items: list[DeadlineRead]
    next_cursor: str | None


class ExtensionCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "new_due_on": "2026-12-18",
                    "reason": "Health records are held by another area and arrive next week.",
                    "agreed_with": "The Child Safeguarding Practice Review Panel",
                }
            ]
        }
    )

    new_due_on: IsoDate
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)
    ]
    agreed_with: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = (
        None
    )


class HolidayRead(BaseModel):
    date: date
    title: str
    source: Literal["gov.uk", "computed", "added"]


class HolidayList(BaseModel):
    year: int
    calendar_version: str
    jurisdiction: str
    holidays: list[HolidayRead]


class HolidayCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "date": "2027-06-07",
                    "title": "Extra bank holiday",
                    "reason": "Proclaimed by royal proclamation; gov.uk lists it.",
                }
            ]
        }
    )

    date: IsoDate
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    reason: Annotated[str, StringConstraints(max_length=2_000)] | None = None


class HolidayWithdrawal(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"reason": "Added in error: the proclamation names 8 June, not 7 June."}]
        }
    )

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000)]


class HolidayWithdrawn(BaseModel):
    date: date
    title: str
    withdrawn_at: datetime
    reason: str
