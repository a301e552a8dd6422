"""API shapes for partnership configuration."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from cspr_engine.kit.schemas import StrictModel

# Whole numbers within what any setting may take (each setting's own bounds are checked too).
SettingValue = (
    Annotated[str, StringConstraints(max_length=64)]
    | Annotated[StrictInt, Field(ge=-1_000, le=1_000)]
)


class SettingRead(BaseModel):
    key: str = Field(
        description="e.g. clocks.rapid_review.start, escalation.warning.offset_working_days"
    )
    label: str
    basis: str
    type: Literal["choice", "integer"]
    options: list[str] | None = Field(default=None, description="For a choice: what it may be.")
    unit: str | None = Field(default=None, description="For a number: working_days, months ...")
    minimum: int | None = None
    maximum: int | None = None
    default: str | int = Field(description="What applies when the partnership has not chosen.")
    value: str | int = Field(description="What applies to cases opened now.")
    configured: bool = Field(description="The partnership chose `value` (not the default).")


class ConfigurationRead(BaseModel):
    partnership: str
    workflow: str
    workflow_version: int = Field(description="The workflow definition the settings come from.")
    version: int = Field(
        description="The configuration version new cases record (0: never configured)."
    )
    settings: list[SettingRead]
    reason: str | None = None
    changed_by: uuid.UUID | None = None
    changed_at: datetime | None = None


class ConfigurationUpdate(StrictModel):
    """The partnership's choices, whole: a setting not named goes back to its default."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "values": {"clocks.rapid_review.start": "notified_on"},
                    "reason": "Agreed by the safeguarding partners on 3 March.",
                }
            ]
        }
    )

    values: dict[Annotated[str, StringConstraints(max_length=128)], SettingValue] = Field(
        default_factory=dict, max_length=50
    )
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000)]


class ConfigurationVersionRead(BaseModel):
    version: int
    values: dict[str, str | int]
    reason: str
    changed_by: uuid.UUID
    changed_at: datetime


class ConfigurationVersionList(BaseModel):
    items: list[ConfigurationVersionRead]
    next_cursor: str | None
