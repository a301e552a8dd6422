"""Tables: typed links between cases, and read-only shares with other partnerships."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from cspr_engine.kit.tables import UTCDateTime


class CaseLink(SQLModel, table=True):
    """A typed link from a case to another case of the same partnership, or to another
    partnership's case by its reference. Removing keeps the row (the audit shows both)."""

    __tablename__ = "case_links"
    __table_args__ = (
        Index("ix_case_links_case", "case_id"),
        Index("ix_case_links_target", "target_case_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="cases.id", ondelete="RESTRICT")
    type: str = Field(
        max_length=32
    )  # sibling | same_incident | child_death_review | other_partnership
    target_case_id: uuid.UUID | None = Field(
        default=None, foreign_key="cases.id", ondelete="RESTRICT"
    )
    external_reference: str | None = Field(default=None, max_length=100)
    external_partnership: str | None = Field(default=None, max_length=100)
    note: str | None = Field(default=None, sa_type=Text)
    created_by: uuid.UUID = Field(foreign_key="users.id", ondelete="RESTRICT")
    created_at: datetime = Field(sa_type=UTCDateTime)
    removed_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="RESTRICT")
    removed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CaseShare(SQLModel, table=True):
    """A case shown, read-only, to another partnership (a child's home authority in a
    cross-boundary incident) until revoked."""

    __tablename__ = "case_shares"
    __table_args__ = (Index("ix_case_shares_grantee", "grantee_partnership_id", "case_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="cases.id", ondelete="RESTRICT")
    grantee_partnership_id: uuid.UUID = Field(foreign_key="partnerships.id", ondelete="RESTRICT")
    reason: str = Field(sa_type=Text)
    granted_by: uuid.UUID = Field(foreign_key="users.id", ondelete="RESTRICT")
    granted_at: datetime = Field(sa_type=UTCDateTime)
    revoked_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="RESTRICT")
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoke_reason: str | None = Field(default=None, sa_type=Text)
