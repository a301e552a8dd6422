"""API shapes of the administrative audit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class AdminActor(BaseModel):
    id: uuid.UUID
    display_name: str
    email: str


class AdminEventRead(BaseModel):
    id: uuid.UUID
    at: datetime
    partnership: str | None = Field(description="Its partnership's code; null: a platform change.")
    actor: AdminActor | None = Field(
        description="Who made the change; null: the command line on the service's own host."
    )
    kind: str = Field(examples=["user.created", "token.issued", "calendar.day_added"])
    subject_type: str
    subject_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None


class AdminEventList(BaseModel):
    items: list[AdminEventRead]
    next_cursor: str | None
