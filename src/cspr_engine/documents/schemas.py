"""API shapes for documents. A title is written for the record: never a child's name."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cspr_engine.kit.schemas import StrictModel

DocumentKind = Literal[
    "rapid_review_report",
    "terms_of_reference",
    "final_report",
    "information_return",
    "panel_correspondence",
    "other",
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class DocumentUpload(StrictModel):
    """The text fields of an upload (multipart/form-data, beside the `file` part)."""

    kind: DocumentKind
    title: Title


class DocumentWithdraw(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "Uploaded to the wrong case."}]}
    )

    reason: Reason = Field(description="Why the document is withdrawn (kept in the audit).")


class DocumentRead(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    kind: str
    title: str
    filename: str = Field(
        description="The name the file is served with: the uploaded name, cleaned, with an "
        "extension that matches its content."
    )
    media_type: str = Field(description="Detected from the content, never from the name.")
    size: int = Field(description="In bytes.")
    sha256: str = Field(description="Hex SHA-256 of the bytes, checked on every download.")
    uploaded_by: uuid.UUID
    uploaded_at: datetime
    withdrawn: bool
    withdrawn_by: uuid.UUID | None
    withdrawn_at: datetime | None
    content_url: str = Field(description="Where the bytes are (case readers; not once withdrawn).")


class DocumentList(BaseModel):
    items: list[DocumentRead]
    next_cursor: str | None
