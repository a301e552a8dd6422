"""API shapes for linked cases and shares. A link or a share names cases and partnerships by
their references only: never a child's identifier (an NHS number is refused on sight)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from cspr_engine.accounts.schemas import PartnershipCode
from cspr_engine.cases.schemas import IDENTIFYING_KEYS
from cspr_engine.kit.schemas import StrictModel

LinkType = Literal["sibling", "same_incident", "child_death_review", "other_partnership"]
LINK_TYPES: tuple[LinkType, ...] = (
    "sibling",
    "same_incident",
    "child_death_review",
    "other_partnership",
)
# Types whose other case is a case of this partnership (`target`), of another partnership
# (`external_partnership` + `external_reference`), or either (a child death review may be
# recorded here or by another body).
TARGET_ONLY: frozenset[str] = frozenset({"sibling", "same_incident"})
EXTERNAL_ONLY: frozenset[str] = frozenset({"other_partnership"})

# Ten digits, as NHS numbers are written (`9434765919`, `943 476 5919`, `943-476-5919`), not
# inside a longer run of digits.
_NHS_LIKE = re.compile(r"(?<!\d)\d{3}[ -]?\d{3}[ -]?\d{4}(?!\d)")
NHS_MESSAGE = (
    "looks like an NHS number (10 digits): a child's NHS number is never stored here; keep it "
    "in your own system and use the case's reference"
)


# A UUID (a case's id, another system's key) may hold a run of ten digits: it is no NHS number.
_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)


def looks_like_nhs_number(value: str) -> bool:
    return _NHS_LIKE.search(_UUID.sub(" ", value)) is not None


def _no_nhs_number(value: str | None) -> str | None:
    if value is not None and looks_like_nhs_number(value):
        raise ValueError(NHS_MESSAGE)
    return value


def _bounded(max_length: int) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)


NoNhsNumber = AfterValidator(_no_nhs_number)
CaseKeyText = Annotated[str, _bounded(64), NoNhsNumber]
ExternalText = Annotated[str, _bounded(100), NoNhsNumber]
Note = Annotated[str, _bounded(2_000), NoNhsNumber]
Reason = Annotated[str, _bounded(2_000), NoNhsNumber]


class _NoIdentifiers(StrictModel):
    @model_validator(mode="before")
    @classmethod
    def _no_identifying_keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            named = sorted(IDENTIFYING_KEYS & set(value))
            if named:
                raise ValueError(
                    f"{', '.join(named)}: a child's name, address, date of birth and NHS "
                    "number are never stored here; link cases by their references"
                )
        return value


class LinkCreate(_NoIdentifiers):
    """A typed link from the case to another: a case of this partnership (`target`, its id or
    reference) or another partnership's case (`external_partnership` + `external_reference`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "sibling",
                    "target": "TW-2026-0006",
                    "note": "Siblings in the same household.",
                }
            ]
        }
    )

    type: LinkType
    target: CaseKeyText | None = Field(
        default=None, description="A case of this partnership: its id or its reference."
    )
    external_partnership: ExternalText | None = Field(
        default=None, description="Another partnership (or body), e.g. its code or name."
    )
    external_reference: ExternalText | None = Field(
        default=None, description="That partnership's reference for its case."
    )
    note: Note | None = None


class LinkedCase(BaseModel):
    """The other case of a link. One the caller may not read shows its reference alone."""

    reference: str
    visible: bool
    id: uuid.UUID | None = None
    state: str | None = None
    state_label: str | None = None


class LinkRead(BaseModel):
    id: uuid.UUID
    type: LinkType
    direction: Literal["outgoing", "incoming"] = Field(
        description="outgoing: added on this case; incoming: added on the other case."
    )
    case: LinkedCase | None = Field(description="The other case, when it is of this partnership.")
    external_partnership: str | None
    external_reference: str | None
    note: str | None = Field(description="Left out when the other case is not visible to you.")
    created_by: uuid.UUID
    created_at: datetime
    removed_by: uuid.UUID | None
    removed_at: datetime | None


class LinkList(BaseModel):
    """The case's links: a few, whole on one page (`next_cursor` is always null)."""

    items: list[LinkRead]
    next_cursor: str | None


class ShareCreate(_NoIdentifiers):
    """Share the case, read-only, with another partnership (e.g. a child's home authority)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"partnership": "OT", "reason": "The family moved to OT's area in October."}
            ]
        }
    )

    partnership: PartnershipCode = Field(description="The grantee partnership's code.")
    reason: Reason


class ShareRevoke(_NoIdentifiers):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"reason": "The family moved back; OT's part in the review is over."}]
        }
    )

    reason: Reason


class ShareRead(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    case_reference: str
    shared_by: str = Field(description="The code of the case's own partnership.")
    partnership: str = Field(description="The grantee partnership's code.")
    reason: str
    active: bool
    granted_by: uuid.UUID
    granted_at: datetime
    revoked_by: uuid.UUID | None
    revoked_at: datetime | None
    revoke_reason: str | None


class ShareList(BaseModel):
    """Shares: a case's few whole on one page (`next_cursor` null); the incoming ones paged."""

    items: list[ShareRead]
    next_cursor: str | None
