"""API shapes of the exports. The record is made of the other packages' own API shapes: it says
what the individual endpoints say to the same reader, no more."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from cspr_engine.access.schemas import AccessEventRead
from cspr_engine.actions.schemas import ActionDetail
from cspr_engine.approvals.schemas import GateRead
from cspr_engine.cases.schemas import AuditEventRead, CaseRead
from cspr_engine.deadlines.schemas import DeadlineRead
from cspr_engine.documents.schemas import DocumentRead
from cspr_engine.information_requests.schemas import InformationRequestRead
from cspr_engine.links.schemas import LinkRead, ShareRead


class PackFormat(StrEnum):
    """The formats of the submission pack, by their `?format=` name."""

    md = "md"
    docx = "docx"


MEDIA_TYPES: dict[PackFormat, str] = {
    PackFormat.md: "text/markdown",
    PackFormat.docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


class Exporter(BaseModel):
    """Who took the export (ids only: the access log has the rest)."""

    user_id: uuid.UUID
    partnership: str | None
    roles: list[str]
    agency: str | None


class CaseRecord(BaseModel):
    """A case's full record as its own partnership holds it."""

    exported_at: datetime
    exported_by: Exporter
    case: CaseRead
    events: list[AuditEventRead] = Field(description="The whole audit timeline, oldest first.")
    deadlines: list[DeadlineRead] = Field(
        description="Every clock of the case, cancelled ones included, with its extensions."
    )
    approvals: dict[str, GateRead] = Field(
        description="Each gate's latest round (earlier votes are in `events`)."
    )
    information_requests: list[InformationRequestRead]
    actions: list[ActionDetail] = Field(description="Each with its full update history.")
    links: list[LinkRead] = Field(description="Removed links included.")
    shares: list[ShareRead]
    documents: list[DocumentRead] = Field(
        description="Their records (with SHA-256), not their bytes; withdrawn ones included."
    )
    access: list[AccessEventRead] | None = Field(
        description="Who reached for the case, newest first: only for those who may read the "
        "access log (the panel chair and the scrutineer); null for the others. This export's "
        "own entry is written once it is answered, so it is not in it."
    )
