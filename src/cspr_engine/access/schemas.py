"""API schemas for the access log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class AccessEventRead(BaseModel):
    at: datetime
    actor_id: uuid.UUID | None
    token_id: uuid.UUID | None
    session_id: uuid.UUID | None
    method: str
    path: str
    action: str
    outcome: Literal["allowed", "denied"]
    status: int | None
    request_id: str | None


class AccessEventList(BaseModel):
    items: list[AccessEventRead]
    next_cursor: str | None
