"""API shapes for calendar feeds."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cspr_engine.kit.schemas import StrictModel


class CalendarFeedCreate(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Outlook (work)"}]})

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] = (
        Field(description="To tell the feed apart later, e.g. the calendar it is added to.")
    )


class CalendarFeedRead(BaseModel):
    """A calendar feed as listed: never its secret (nor, so, its URL)."""

    id: uuid.UUID
    name: str
    user_id: uuid.UUID
    created_at: datetime
    last_used_at: datetime | None = Field(description="When a calendar last fetched it.")
    revoked_at: datetime | None


class CalendarFeedCreated(BaseModel):
    """A new calendar feed: `url` carries its secret and is shown this once."""

    id: uuid.UUID
    name: str
    user_id: uuid.UUID
    created_at: datetime
    url: str = Field(
        description=(
            "Subscribe to this address in a calendar (e.g. Outlook: Add calendar, From "
            "internet). Anyone who has it sees what you see of the clocks: shown once."
        )
    )


class CalendarFeedList(BaseModel):
    items: list[CalendarFeedRead]
    next_cursor: str | None
