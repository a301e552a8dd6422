"""Queries on documents (and the one question documents ask of information requests).
Nothing here commits."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import exists, tuple_
from sqlmodel import Session, col, select

from cspr_engine.documents.models import Document
from cspr_engine.information_requests.models import InformationRequest


def for_case(
    session: Session,
    case_id: uuid.UUID,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> list[Document]:
    """The case's documents, newest first, keyset-paginated on (uploaded_at, id)."""
    query = select(Document).where(col(Document.case_id) == case_id)
    if after is not None:
        query = query.where(tuple_(Document.uploaded_at, Document.id) < tuple_(*after))
    query = query.order_by(col(Document.uploaded_at).desc(), col(Document.id).desc())
    return list(session.exec(query.limit(limit)))


def get_for_case(session: Session, case_id: uuid.UUID, key: str) -> Document | None:
    """The case's document with id `key` (a key that is no id names none)."""
    try:
        document_id = uuid.UUID(key)
    except ValueError:
        return None
    return session.exec(
        select(Document).where(col(Document.id) == document_id, col(Document.case_id) == case_id)
    ).first()


def has_open_request(
    session: Session, *, case_id: uuid.UUID, partnership_id: uuid.UUID, agency: str
) -> bool:
    """Whether `agency` has an information request on the case that is still open."""
    query = select(
        exists().where(
            col(InformationRequest.case_id) == case_id,
            col(InformationRequest.partnership_id) == partnership_id,
            col(InformationRequest.agency) == agency,
            col(InformationRequest.status) == "open",
        )
    )
    return bool(session.exec(query).one())
