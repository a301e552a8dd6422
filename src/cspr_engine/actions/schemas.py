"""API shapes for improvement actions and their update history."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cspr_engine.deadlines.schemas import ExtensionRead
from cspr_engine.kit.schemas import IsoDate, StrictModel

Source = Literal["immediate_action", "recommendation", "other"]
Status = Literal["open", "in_progress", "completed", "closed_with_rationale"]
ActionText = Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
Note = Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
AgencyCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]*$", max_length=32)]


class ActionCreate(StrictModel):
    """A new improvement action; it starts `open`, with its `action_due` clock running."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "source": "recommendation",
                    "description": "Strategy discussions record whether the GP was told.",
                    "owner_agency": "health",
                    "due_on": "2027-03-31",
                }
            ]
        }
    )

    source: Source = Field(
        description="Where it comes from: the rapid review's immediate actions, the review's "
        "recommendations, or elsewhere."
    )
    description: ActionText
    owner_agency: AgencyCode = Field(description="One of the workflow's agencies.")
    due_on: IsoDate = Field(
        description="Not before the case's became_aware_on; may be in the past (the action is "
        "then overdue at once)."
    )


class ActionPatch(StrictModel):
    """A change to an action. A field left out (or null) is unchanged; a `note` alone records
    progress. The owner agency's users may change `status` (to in_progress or completed),
    `completed_on` and `evidence_of_impact`, and add a `note`; the rest is qpd's and the panel
    chair's. A `note` is required to move `due_on`, to close with a rationale and to reopen."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "completed",
                    "completed_on": "2027-03-14",
                    "evidence_of_impact": "An audit of 30 discussions: the GP told in 29.",
                    "note": "The audit report is attached to the case.",
                }
            ]
        }
    )

    status: Status | None = None
    completed_on: IsoDate | None = Field(
        default=None, description="With status completed: the day it was done (default today)."
    )
    closure_rationale: ActionText | None = Field(
        default=None, description="Required with status closed_with_rationale."
    )
    evidence_of_impact: ActionText | None = None
    description: ActionText | None = None
    owner_agency: AgencyCode | None = None
    due_on: IsoDate | None = None
    note: Note | None = None


class ActionClockRead(BaseModel):
    """The action's `action_due` clock (the latest, if it was restarted by a reopening)."""

    status: Literal["pending", "met", "met_late", "breached", "cancelled"]
    starts_on: date
    due_on: date
    due_at: datetime
    working_days_left: int | None
    met_on: date | None
    breached_at: datetime | None
    cancelled_at: datetime | None
    next_alert_at: datetime | None
    extensions: list[ExtensionRead]


class ActionRead(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    reference: str = Field(description="A1, A2 ... within the case.")
    number: int
    source: Source
    description: str
    owner_agency: str
    due_on: date
    status: Status
    completed_on: date | None
    closure_rationale: str | None
    evidence_of_impact: str | None
    version: int = Field(description="The action's own version: its ETag, for If-Match.")
    created_by: uuid.UUID
    created_at: datetime
    updated_at: datetime
    clock: ActionClockRead | None
    allowed_statuses: list[Status] = Field(description="Statuses this caller may move it to.")
    editable_fields: list[str] = Field(description="Fields this caller may change.")


class ActionUpdateRead(BaseModel):
    seq: int
    at: datetime
    actor_id: uuid.UUID
    changes: dict[str, list[Any]] = Field(description="Each changed field: [from, to].")
    note: str | None


class ActionDetail(ActionRead):
    updates: list[ActionUpdateRead] = Field(description="Every change, oldest first.")


class ActionSources(BaseModel):
    """The texts actions are built from, as the case recorded them."""

    immediate_actions: str | None = Field(
        description="complete_rapid_review's immediate_actions, if recorded."
    )
    recommendations: str | None = Field(
        description="receive_final_report's recommendations, if recorded."
    )


class ActionList(BaseModel):
    items: list[ActionRead]
    next_cursor: str | None
    sources: ActionSources
    may_create: bool = Field(description="Whether this caller may add an action now.")
