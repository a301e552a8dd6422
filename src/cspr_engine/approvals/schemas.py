"""API shapes for approval gates."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from cspr_engine.kit.schemas import IsoDate, StrictModel


class VoteCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "decision": "agree",
                    "rationale": "The criteria for a local review are met.",
                    "decided_on": "2026-11-20",
                }
            ]
        }
    )

    decision: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    rationale: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)
    ]
    decided_on: IsoDate | None = None


class VoteRead(BaseModel):
    party: str
    agency: str | None
    decision: str
    rationale: str
    decided_on: date
    user_id: uuid.UUID
    cast_at: datetime


GateStatus = Literal["not_open", "open", "agreed", "disputed", "closed"]


class GateRead(BaseModel):
    gate: str
    label: str
    basis: str | None
    advisory: bool
    status: GateStatus
    round: int | None
    parties: list[str]
    votes: list[VoteRead]
    missing: list[str]
    agreed_on: date | None
