"""API shapes for the alert inbox and webhook subscriptions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from cspr_engine.kit.schemas import StrictModel

EventType = Literal[
    "case.created",
    "case.transitioned",
    "deadline.warning",
    "deadline.breached",
    "deadline.escalated",
    "approval.disputed",
    "action.overdue",
    "information_request.overdue",
    "case.migrated",
    "*",
]


class AlertRead(BaseModel):
    id: uuid.UUID
    type: str
    occurred_at: datetime
    case_id: uuid.UUID | None
    case_reference: str | None
    data: dict[str, Any]


class AlertList(BaseModel):
    items: list[AlertRead]
    next_cursor: str | None


class WebhookCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://cases.partner.example/hooks/cspr",
                    "events": ["case.created", "deadline.warning", "deadline.breached"],
                    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                }
            ]
        }
    )

    url: Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://[^\s]+$")]
    events: list[EventType] = Field(min_length=1, max_length=20)
    secret: Annotated[str, StringConstraints(min_length=16, max_length=200)]
    partnership: Annotated[str, StringConstraints(max_length=16)] | None = None

    @field_validator("events")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return sorted(set(value))


class WebhookRead(BaseModel):
    id: uuid.UUID
    partnership: str
    url: str
    events: list[str]
    created_at: datetime
    disabled_at: datetime | None


class WebhookList(BaseModel):
    items: list[WebhookRead]
    next_cursor: str | None
