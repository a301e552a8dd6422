"""Table: calendar feeds, each a revocable secret in a subscription URL."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from cspr_engine.kit.tables import UTCDateTime


class CalendarFeed(SQLModel, table=True):
    """A user's subscription to the clocks of the cases they may read. The URL carries a random
    secret; only its SHA-256 is kept (like an API token's)."""

    __tablename__ = "calendar_feeds"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    name: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
