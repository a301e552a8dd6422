"""Queries on information requests. Nothing here commits."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import func, tuple_
from sqlmodel import Session, col, select

from cspr_engine.access import policy
from cspr_engine.accounts.schemas import Actor
from cspr_engine.cases.models import Case
from cspr_engine.deadlines.models import Deadline
from cspr_engine.documents.models import Document
from cspr_engine.information_requests.models import InformationRequest


def awaited_agencies(session: Session, case_id: uuid.UUID) -> tuple[str, ...]:
    """The agencies whose information return on the case is still awaited."""
    rows = session.exec(
        select(InformationRequest.agency)
        .where(
            col(InformationRequest.case_id) == case_id,
            col(InformationRequest.status) == "open",
        )
        .order_by(col(InformationRequest.number))
    )
    return tuple(rows)


def for_case(
    session: Session, case_id: uuid.UUID, *, after_number: int = 0, limit: int | None = None
) -> list[InformationRequest]:
    """The case's requests in the order they were made (by number)."""
    query = (
        select(InformationRequest)
        .where(
            col(InformationRequest.case_id) == case_id,
            col(InformationRequest.number) > after_number,
        )
        .order_by(col(InformationRequest.number))
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query))


def get_on_case(
    session: Session, case_id: uuid.UUID, *, request_id: uuid.UUID | None = None, number: int = 0
) -> InformationRequest | None:
    """One request of the case, by id or by its number within the case."""
    query = select(InformationRequest).where(col(InformationRequest.case_id) == case_id)
    if request_id is not None:
        query = query.where(col(InformationRequest.id) == request_id)
    else:
        query = query.where(col(InformationRequest.number) == number)
    return session.exec(query).first()


def last_number(session: Session, case_id: uuid.UUID) -> int:
    """The highest request number on the case (0 for none). Read after the case's version was
    claimed: a racing writer fails its claim, so two requests cannot take one number."""
    found = session.exec(
        select(func.max(InformationRequest.number)).where(
            col(InformationRequest.case_id) == case_id
        )
    ).first()
    return int(found or 0)


def addressed_to(
    session: Session,
    actor: Actor,
    agency: str,
    *,
    status: str | None,
    after: tuple[date, uuid.UUID] | None,
    limit: int,
) -> list[tuple[InformationRequest, Case]]:
    """Requests to `agency` on the cases `actor` may read, oldest due first (then by id)."""
    query = (
        select(InformationRequest, Case)
        .join(Case, col(Case.id) == col(InformationRequest.case_id))
        .where(
            col(InformationRequest.partnership_id) == actor.partnership_id,
            col(InformationRequest.agency) == agency,
            policy.readable_cases(actor),
        )
    )
    if status is not None:
        query = query.where(col(InformationRequest.status) == status)
    if after is not None:
        query = query.where(
            tuple_(col(InformationRequest.due_on), col(InformationRequest.id)) > tuple_(*after)
        )
    query = query.order_by(col(InformationRequest.due_on), col(InformationRequest.id)).limit(limit)
    return [(r, c) for r, c in session.exec(query)]


def clocks_of(session: Session, request_ids: list[uuid.UUID]) -> dict[uuid.UUID, Deadline]:
    """The latest `information_return` clock of each request, by request id."""
    if not request_ids:
        return {}
    found: dict[uuid.UUID, Deadline] = {}
    rows = session.exec(
        select(Deadline)
        .where(col(Deadline.subject_id).in_(request_ids))
        .order_by(col(Deadline.sequence))
    )
    for d in rows:
        if d.subject_id is not None:
            found[d.subject_id] = d  # ordered by sequence: the latest wins
    return found


def live_document(session: Session, case_id: uuid.UUID, document_id: uuid.UUID) -> Document | None:
    """The document, if it belongs to the case and has not been withdrawn."""
    return session.exec(
        select(Document).where(
            col(Document.id) == document_id,
            col(Document.case_id) == case_id,
            col(Document.withdrawn_at).is_(None),
        )
    ).first()


def live_documents(session: Session, case_id: uuid.UUID) -> list[Document]:
    """The case's documents that have not been withdrawn, oldest first."""
    return list(
        session.exec(
            select(Document)
            .where(col(Document.case_id) == case_id, col(Document.withdrawn_at).is_(None))
            .order_by(col(Document.uploaded_at), col(Document.id))
        )
    )
