"""Queries on cases. Nothing here commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import exists, tuple_, union_all, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from cspr_engine.access import policy
from cspr_engine.accounts.models import Partnership
from cspr_engine.accounts.schemas import Actor
from cspr_engine.cases.exceptions import ConcurrentUpdate, StaleVersion
from cspr_engine.cases.models import Case, CaseReferenceCounter
from cspr_engine.deadlines.models import Deadline
from cspr_engine.kit.http import stale_detail


def visible(actor: Actor) -> SelectOfScalar[Case]:
    """Cases the actor may read (access.policy decides which)."""
    return select(Case).where(policy.readable_cases(actor))


def _by_key(query: SelectOfScalar[Case], key: str) -> SelectOfScalar[Case] | None:
    """`query` narrowed to the case named by id or by human reference (`TW-2026-0007`); None
    for a key that cannot name a case."""
    if len(key) > 64 or "\x00" in key:
        return None
    try:
        return query.where(col(Case.id) == uuid.UUID(key))
    except ValueError:
        return query.where(col(Case.reference) == key.upper())


def get_visible(session: Session, actor: Actor, key: str) -> Case | None:
    """By id, or by human reference (`TW-2026-0007`), if the actor may read it."""
    query = _by_key(select(Case).where(policy.readable_cases(actor, one=True)), key)
    return session.exec(query).first() if query is not None else None


def attempted_case_id(session: Session, key: str) -> uuid.UUID | None:
    """The case a refused request named, whoever it belongs to: for the access log only,
    never for an answer. An id is taken as given (a guess may name no case)."""
    try:
        return uuid.UUID(key)
    except ValueError:
        pass
    query = _by_key(select(Case), key)
    if query is None:
        return None
    # References begin with their partnership's code: look there, on the unique index.
    code = key.upper().rsplit("-", 2)[0]
    query = query.join(Partnership, col(Partnership.id) == col(Case.partnership_id)).where(
        col(Partnership.code) == code
    )
    found = session.exec(query).first()
    return found.id if found is not None else None


@dataclass(frozen=True)
class CaseFilters:
    state: str | None = None
    agency: str | None = None
    q: str | None = None
    workflow: str | None = None
    breached: bool | None = None
    due_before: date | None = None
    now: datetime | None = None
    open_only: bool = False  # only cases not yet closed


def list_visible(
    session: Session,
    actor: Actor,
    filters: CaseFilters,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Case]:
    """Newest first, keyset-paginated on (created_at, id)."""
    return list(session.exec(list_query(actor, filters, limit=limit, after=after)))


def list_query(
    actor: Actor,
    filters: CaseFilters,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> SelectOfScalar[Case]:
    conditions = _filter_conditions(filters)
    if after is not None:
        conditions.append(tuple_(Case.created_at, Case.id) < tuple_(*after))
    newest_first = (col(Case.created_at).desc(), col(Case.id).desc())
    parts = policy.readable_parts(actor)
    if len(parts) == 1:
        query = select(Case).where(parts[0], *conditions)
    else:
        # Each part walks its own index in order and stops at the page's end; the page is the
        # newest `limit` of what they found together.
        pages = [
            select(col(Case.id), col(Case.created_at))
            .where(part, *conditions)
            .order_by(*newest_first)
            .limit(limit)
            .subquery()
            for part in parts
        ]
        found = union_all(*(select(page.c.id, page.c.created_at) for page in pages)).subquery()
        query = select(Case).join(found, col(Case.id) == found.c.id)
    return query.order_by(*newest_first).limit(limit)


def _filter_conditions(filters: CaseFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.state:
        conditions.append(col(Case.state) == filters.state)
    if filters.agency:
        conditions.append(col(Case.referring_agency) == filters.agency)
    if filters.q:
        conditions.append(col(Case.partner_reference) == filters.q)
    if filters.workflow:
        conditions.append(col(Case.workflow) == filters.workflow)
    if filters.open_only:
        conditions.append(col(Case.closed_at).is_(None))
    # A clock still pending past its due instant (the sweep has not had its turn yet) is
    # breached, unless it is a minimum period (`met_at_due`, e.g. publication_retention),
    # which is met then.
    at_due = _met_at_due_keys()
    if filters.breached is not None:
        # Breached: a statutory clock marked so by the sweep, or still pending past its due
        # instant. Advisory and local clocks alert, but are no statutory breach.
        breached = exists().where(
            col(Deadline.case_id) == col(Case.id),
            col(Deadline.kind) == "statutory",
            (col(Deadline.status) == "breached")
            | (
                (col(Deadline.status) == "pending")
                & (col(Deadline.due_at) < filters.now)
                & col(Deadline.key).not_in(at_due)
            ),
        )
        conditions.append(breached if filters.breached else ~breached)
    if filters.due_before is not None:
        running = exists().where(
            col(Deadline.case_id) == col(Case.id),
            col(Deadline.status).in_(("pending", "breached")),
            col(Deadline.due_on) < filters.due_before,
        )
        if filters.now is not None:
            running = running.where(
                ~(col(Deadline.key).in_(at_due) & (col(Deadline.due_at) < filters.now))
            )
        conditions.append(running)
    return conditions


def _met_at_due_keys() -> tuple[str, ...]:
    from cspr_engine.workflow.service import get_definitions

    return tuple(
        sorted(
            {c.key for d in get_definitions().values() for c in d.clocks.values() if c.met_at_due}
        )
    )


def next_reference_number(session: Session, partnership_id: uuid.UUID, year: int) -> int:
    """The next number in the partnership's series for `year`; safe under concurrency
    because the counter row is updated (and so locked) before its value is read."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(CaseReferenceCounter)
        .values(partnership_id=partnership_id, year=year, last=0)
        .on_conflict_do_nothing()
    )
    number = session.execute(
        update(CaseReferenceCounter)
        .where(
            col(CaseReferenceCounter.partnership_id) == partnership_id,
            col(CaseReferenceCounter.year) == year,
        )
        .values(last=col(CaseReferenceCounter.last) + 1)
        .returning(col(CaseReferenceCounter.last))
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return int(number)


def check_precondition(case: Case, expected: frozenset[int] | None) -> None:
    """If-Match is evaluated before anything else about the request (RFC 9110 §13.2.2)."""
    if expected is not None and case.version not in expected:
        raise StaleVersion(
            stale_detail(expected, case.version, "case"),
            case_id=str(case.id),
            current_version=case.version,
        )


def claim_next_version(session: Session, case: Case, expected: frozenset[int] | None) -> int:
    """Move `case` to its next version, or fail if someone else got there first.

    The conditional UPDATE is the concurrency control: of two requests that read the same
    version, the loser's UPDATE matches no row (PostgreSQL re-checks the WHERE after the
    winner commits; SQLite refuses the stale writer outright).
    """
    check_precondition(case, expected)
    result = session.execute(
        update(Case)
        .where(col(Case.id) == case.id, col(Case.version) == case.version)
        .values(version=case.version + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        err = StaleVersion if expected is not None else ConcurrentUpdate
        raise err(
            "Another request changed the case first; fetch it and try again.", case_id=str(case.id)
        )
    case.version += 1
    return case.version
