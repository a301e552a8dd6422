"""API shapes for the alert inbox and webhook subscriptions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from cspr_engine.alerts.secrets import PATTERN as SECRET_PATTERN
from cspr_engine.alerts.secrets import is_standard_secret
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
                    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwIhMrbIxyAiY=",
                }
            ]
        }
    )

    url: Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://[^\s]+$")]
    events: list[EventType] = Field(min_length=1, max_length=20)
    secret: Annotated[
        str | None,
        Field(
            description="A Standard Webhooks secret: `whsec_` and 24 to 62 random bytes in "
            "base64. Leave it out and the service makes one, shown once in the answer.",
            max_length=100,
            json_schema_extra={"pattern": SECRET_PATTERN},
        ),
    ] = None
    partnership: Annotated[str, StringConstraints(max_length=16)] | None = None

    @field_validator("secret")
    @classmethod
    def _standard_webhooks_secret(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not is_standard_secret(value):
            raise ValueError(
                "must be a Standard Webhooks secret: whsec_ followed by 24 to 62 random bytes "
                "in base64 (or leave it out, and one is made for you)"
            )
        return value

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


class WebhookCreated(WebhookRead):
    secret: str | None = Field(
        description="The signing secret, shown this once when the service made it (null when "
        "you gave one)."
    )


class WebhookList(BaseModel):
    items: list[WebhookRead]
    next_cursor: str | None
