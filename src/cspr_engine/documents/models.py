"""Table: documents attached to cases. The bytes live in the document store (a directory by
default), named by id; the row keeps what is needed to serve and verify them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from cspr_engine.kit.tables import UTCDateTime


class Document(SQLModel, table=True):
    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_case", "case_id", "uploaded_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="cases.id", ondelete="RESTRICT")
    partnership_id: uuid.UUID = Field(foreign_key="partnerships.id", ondelete="RESTRICT")
    kind: str = Field(max_length=32)  # rapid_review_report | terms_of_reference | ...
    title: str = Field(max_length=200)
    filename: str = Field(max_length=200)  # as uploaded, cleaned; shown, never logged
    media_type: str = Field(max_length=100)  # from the content, not the name
    size: int
    sha256: str = Field(max_length=64)
    storage_key: str = Field(max_length=100)
    uploaded_by: uuid.UUID = Field(foreign_key="users.id", ondelete="RESTRICT")
    uploaded_at: datetime = Field(sa_type=UTCDateTime)
    withdrawn_by: uuid.UUID | None = Field(
        default=None, foreign_key="users.id", ondelete="RESTRICT"
    )
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
