"""Tables: each partnership's choices among the rules its workflows mark configurable, one row
per version (a change writes a new version; none is ever updated)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from cspr_engine.kit.tables import UTCDateTime, json_type


class WorkflowConfiguration(SQLModel, table=True):
    __tablename__ = "workflow_configurations"
    __table_args__ = (UniqueConstraint("partnership_id", "workflow", "version"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    partnership_id: uuid.UUID = Field(foreign_key="partnerships.id", ondelete="RESTRICT")
    workflow: str = Field(max_length=64)
    # 1, 2, 3 ... per partnership and workflow; cases and clocks record the one they count by.
    version: int
    # Setting key -> the value chosen; a setting not named keeps the workflow's default.
    values: dict[str, Any] = Field(default_factory=dict, sa_type=json_type())
    reason: str = Field(sa_type=Text)
    created_by: uuid.UUID = Field(foreign_key="users.id", ondelete="RESTRICT")
    created_at: datetime = Field(sa_type=UTCDateTime)
