"""API shapes for cases. No field may hold a child's name, address, date of birth or NHS number."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)

from cspr_engine.approvals.schemas import GateRead
from cspr_engine.deadlines.schemas import DeadlineRead
from cspr_engine.kit.limits import TriggerData
from cspr_engine.kit.schemas import Comment, IsoDate, StrictModel

ReferringAgency = Literal[
    "local_authority",
    "police",
    "health",
    "education",
    "probation",
    "youth_justice",
    "voluntary_sector",
    "other",
    "child_death_review",
    "coroner",
]
IncidentCategory = Literal[
    "physical_abuse",
    "emotional_abuse",
    "sexual_abuse",
    "neglect",
    "child_criminal_exploitation",
    "child_sexual_exploitation",
    "online_harm",
    "domestic_abuse",
    "other",
]
LegalStatus = Literal[
    "none", "child_in_need", "cp_plan", "looked_after", "care_leaver", "not_known"
]
IncidentOutcome = Literal["death", "serious_harm"]
# `not_suspected`: a child death is reviewed whether or not anyone suspects abuse; a workflow
# that needs abuse or neglect known or suspected says so (`create.requires`).
AbuseOrNeglect = Literal["known", "suspected", "not_suspected"]

REFERRING_AGENCIES: tuple[str, ...] = get_args(ReferringAgency)
# The referral values a workflow's `create.requires` may restrict, by dotted path.
REQUIRABLE: dict[str, tuple[str, ...]] = {
    "incident.outcome": get_args(IncidentOutcome),
    "incident.abuse_or_neglect": get_args(AbuseOrNeglect),
}
# In the creation audit event of a case a trigger opened: the reference of the case it came from.
OPENED_FROM = "opened_from"
# What a trigger's `opens` may set on the case it opens: the create field (dotted path), the
# trigger field types that can carry it and, for coded fields, the values it takes.
OPENS_FIELDS: dict[str, tuple[frozenset[str], tuple[str, ...] | None]] = {
    "became_aware_on": (frozenset({"date"}), None),
    "incident.occurred_on": (frozenset({"date"}), None),
    "incident.outcome": (frozenset({"enum"}), get_args(IncidentOutcome)),
    "incident.abuse_or_neglect": (frozenset({"enum"}), get_args(AbuseOrNeglect)),
    "incident.categories": (frozenset({"list"}), get_args(IncidentCategory)),
    "summary": (frozenset({"text", "string"}), None),
}

# Keys a partner might send by habit; refused by name so the reason is plain.
IDENTIFYING_KEYS = frozenset(
    {
        "name",
        "first_name",
        "last_name",
        "surname",
        "forename",
        "forenames",
        "full_name",
        "date_of_birth",
        "dob",
        "birth_date",
        "nhs_number",
        "address",
        "postcode",
    }
)


def _refuse_identifiers(value: Any) -> Any:
    if isinstance(value, dict):
        named = sorted(IDENTIFYING_KEYS & set(value))
        if named:
            raise ValueError(
                f"{', '.join(named)}: a child's name, address, date of birth and NHS number are "
                "never stored here; keep them in your own system and link by partner_reference"
            )
    return value


class Incident(StrictModel):
    occurred_on: IsoDate | None = None
    outcome: IncidentOutcome
    abuse_or_neglect: AbuseOrNeglect
    categories: list[IncidentCategory] = Field(default_factory=list, max_length=9)


class Child(StrictModel):
    age_years: Annotated[StrictInt, Field(ge=0, le=25)] | None = None
    sex: Literal["female", "male", "other", "not_known"] | None = None
    ethnicity: Annotated[str, StringConstraints(max_length=100)] | None = None
    disability: StrictBool | None = None
    legal_status: LegalStatus | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_identifiers(cls, value: Any) -> Any:
        return _refuse_identifiers(value)


class CaseCreate(StrictModel):
    """A referral: an incident (a serious one, or a child's death) the partnership has become
    aware of. Its workflow's `create.requires` says which incidents it takes."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "workflow": "cspr",
                    "became_aware_on": "2026-11-02",
                    "referring_agency": "police",
                    "partner_reference": "LA-12345",
                    "incident": {
                        "occurred_on": "2026-10-30",
                        "outcome": "serious_harm",
                        "abuse_or_neglect": "suspected",
                        "categories": ["physical_abuse"],
                    },
                    "child": {
                        "age_years": 2,
                        "sex": "female",
                        "disability": False,
                        "legal_status": "cp_plan",
                    },
                }
            ]
        }
    )

    workflow: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)] = (
        "cspr"
    )
    became_aware_on: IsoDate
    referring_agency: ReferringAgency
    partner_reference: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    incident: Incident
    child: Child = Field(default_factory=Child)
    summary: Annotated[str, StringConstraints(max_length=20_000)] | None = None
    comment: Comment | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_identifiers(cls, value: Any) -> Any:
        return _refuse_identifiers(value)

    @model_validator(mode="after")
    def _aware_after_incident(self) -> CaseCreate:
        if self.incident.occurred_on and self.incident.occurred_on > self.became_aware_on:
            raise ValueError("incident.occurred_on cannot be after became_aware_on")
        return self


class TransitionRequest(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "trigger": "notify_panel",
                    "data": {"notified_on": "2026-11-04", "panel_reference": "NOT-2026-0412"},
                    "comment": "Notified through the Panel's online form.",
                }
            ]
        }
    )

    trigger: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    data: TriggerData = Field(default_factory=dict)
    comment: Comment | None = None


class CaseRead(BaseModel):
    id: uuid.UUID
    reference: str
    workflow: str
    workflow_version: int
    partnership: str
    state: str
    state_label: str
    version: int
    partner_reference: str | None
    referring_agency: str
    became_aware_on: date
    incident: dict[str, Any]
    child: dict[str, Any]
    summary: str | None
    recorded: dict[str, dict[str, Any]] = Field(
        description="The latest data each trigger recorded, keyed by trigger."
    )
    deadlines: list[DeadlineRead]
    allowed_triggers: list[str] = Field(description="Triggers this caller may fire now.")
    approvals: dict[str, GateRead]
    state_entered_at: datetime
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class CaseSummary(BaseModel):
    id: uuid.UUID
    reference: str
    workflow: str
    state: str
    version: int
    partner_reference: str | None
    referring_agency: str
    became_aware_on: date
    created_at: datetime
    updated_at: datetime


class CaseList(BaseModel):
    items: list[CaseSummary]
    next_cursor: str | None


class TriggerOption(BaseModel):
    trigger: str
    label: str
    to: list[str]
    fields: dict[str, dict[str, Any]]
    guards: list[str]


class TriggerOptionList(BaseModel):
    """The triggers the caller may fire now: a few, whole on one page (`next_cursor` is always
    null)."""

    items: list[TriggerOption]
    next_cursor: str | None


class AuditEventRead(BaseModel):
    seq: int
    at: datetime
    kind: str
    actor_id: uuid.UUID | None
    actor_roles: list[str]
    actor_agency: str | None
    trigger: str | None
    from_state: str | None
    to_state: str | None
    data: dict[str, Any]
    comment: str | None
    basis: str | None
    request_id: str | None
    workflow_version: int


class EventList(BaseModel):
    items: list[AuditEventRead]
    next_cursor: str | None
