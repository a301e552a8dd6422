"""Roles, agencies and the Actor (who a request acts as); the accounts API's shapes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from cspr_engine.kit.schemas import ShortText, StrictModel
from cspr_engine.workflow.engine import Caller

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024


class Role(StrEnum):
    referrer = "referrer"
    business_unit = "business_unit"
    panel_chair = "panel_chair"
    dsp = "dsp"
    lsp = "lsp"
    scrutineer = "scrutineer"
    qpd = "qpd"
    admin = "admin"


class Agency(StrEnum):
    local_authority = "local_authority"
    police = "police"
    health = "health"
    education = "education"
    probation = "probation"
    youth_justice = "youth_justice"
    voluntary_sector = "voluntary_sector"
    other = "other"


@dataclass(frozen=True)
class Actor:
    """The authenticated user behind a request (a person or a partner's case system)."""

    user_id: uuid.UUID
    partnership_id: uuid.UUID | None
    partnership_code: str | None
    roles: frozenset[str]
    agency: str | None
    is_platform_admin: bool = False
    token_id: uuid.UUID | None = None
    # Set when the request came with the web session cookie rather than a bearer token.
    session_id: uuid.UUID | None = None

    @property
    def caller(self) -> Caller:
        return Caller(roles=self.roles, agency=self.agency)


# -- API shapes ---------------------------------------------------------------------------------

PartnershipCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z0-9]{2,16}$")
]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$"
    ),
]
# Passwords are taken as typed: no stripping; the upper bound keeps hashing cheap to refuse.
Password = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_LENGTH)]


class PartnershipCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"code": "TW", "name": "Townwell Safeguarding Children Partnership"}]
        }
    )

    code: PartnershipCode = Field(description="2 to 16 letters or digits; stored upper-case.")
    name: ShortText


class PartnershipRead(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    created_at: datetime


class PartnershipList(BaseModel):
    items: list[PartnershipRead]
    next_cursor: str | None


class UserCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "case-system@police.tw.example",
                    "display_name": "Townwell Police case system",
                    "partnership": "TW",
                    "roles": ["referrer"],
                    "agency": "police",
                    "service_account": True,
                }
            ]
        }
    )

    email: Email
    display_name: ShortText
    partnership: PartnershipCode | None = Field(
        default=None,
        description="The partnership's code; a partnership admin may leave it out (its own).",
    )
    roles: list[Role] = Field(min_length=1, max_length=len(Role))
    agency: Agency | None = None
    service_account: bool = Field(
        default=False,
        description="A partner agency's case system: API tokens only, never a password.",
    )


class UserRead(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str
    partnership: str | None = Field(description="The partnership's code (none: platform admin).")
    roles: list[str]
    agency: str | None
    is_platform_admin: bool
    service_account: bool
    is_active: bool
    has_password: bool = Field(description="Whether the user can sign in on the web.")
    created_at: datetime


class UserList(BaseModel):
    items: list[UserRead]
    next_cursor: str | None


class TokenCreate(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "5c0b7f3e-2d6a-4e1b-9f8c-3a7d2e6b1c40",
                    "name": "Police case system",
                    "expires_at": "2027-06-30T23:00:00Z",
                }
            ]
        }
    )

    user_id: uuid.UUID
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    expires_at: AwareDatetime | None = Field(
        default=None, description="RFC 3339 instant in the future; none: the token never expires."
    )


class TokenRead(BaseModel):
    """An API token as listed: never its secret."""

    id: uuid.UUID
    name: str
    user_id: uuid.UUID
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(
        description="When it last authenticated a request (to within a few minutes)."
    )
    revoked_at: datetime | None


class TokenCreated(BaseModel):
    """A new API token: `token` is shown this once; only its hash is kept."""

    id: uuid.UUID
    token: str = Field(description="Send as `Authorization: Bearer <token>`. Shown once.")
    name: str
    user_id: uuid.UUID
    created_at: datetime
    expires_at: datetime | None


class TokenList(BaseModel):
    items: list[TokenRead]
    next_cursor: str | None


class SignInRequest(StrictModel):
    holds_records = False  # a password may be any characters, ten digits included
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=False,
        json_schema_extra={
            "examples": [{"email": "chair@tw.example", "password": "correct horse battery staple"}]
        },
    )

    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]
    password: Password


class SignedIn(BaseModel):
    """The signed-in user; the session itself travels in the `cspr_session` cookie."""

    user: UserRead
    csrf_token: str = Field(
        description="Send as `X-CSRF-Token` on every POST, PUT, PATCH or DELETE made with the "
        "session cookie."
    )
    expires_at: datetime


class Me(BaseModel):
    user: UserRead
    authenticated_by: Literal["token", "session"]
    csrf_token: str | None = Field(description="The session's CSRF token (cookie sign-in only).")
    session_expires_at: datetime | None
