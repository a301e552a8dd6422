"""Roles, agencies and the Actor: who a request acts as."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from cspr_engine.workflow.engine import Caller


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

    @property
    def caller(self) -> Caller:
        return Caller(roles=self.roles, agency=self.agency)
