"""Queries on improvement actions."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from cspr_engine.actions.models import ActionUpdate, ImprovementAction
from cspr_engine.deadlines.models import Deadline

# An action is done when completed or closed with a rationale; until then it is open.
OPEN_STATUSES = ("open", "in_progress")
DONE_STATUSES = ("completed", "closed_with_rationale")
STATUSES = OPEN_STATUSES + DONE_STATUSES
SUBJECT_TYPE = "action"  # Deadline.subject_type of an action's clock; the key of its alerts' id

_NUMBERED = re.compile(r"^[Aa]([1-9]\d{0,8})$")


def open_count(session: Session, case_id: uuid.UUID) -> int:
    """How many of the case's improvement actions are not yet done."""
    count: int = session.exec(
        select(func.count())
        .select_from(ImprovementAction)
        .where(
            col(ImprovementAction.case_id) == case_id,
            col(ImprovementAction.status).in_(OPEN_STATUSES),
        )
    ).one()
    return count


def next_number(session: Session, case_id: uuid.UUID) -> int:
    """The next action's number in the case (A1 first). Callers hold the case's next version,
    so two writers cannot both take it (and (case_id, number) is unique besides)."""
    last = session.exec(
        select(func.max(ImprovementAction.number)).where(col(ImprovementAction.case_id) == case_id)
    ).one()
    return int(last or 0) + 1


def get_for_case(session: Session, case_id: uuid.UUID, key: str) -> ImprovementAction | None:
    """The case's action named by its id (UUID) or its reference (`A3`); None if none is."""
    query = select(ImprovementAction).where(col(ImprovementAction.case_id) == case_id)
    numbered = _NUMBERED.match(key)
    if numbered:
        return session.exec(
            query.where(col(ImprovementAction.number) == int(numbered.group(1)))
        ).first()
    try:
        action_id = uuid.UUID(key)
    except ValueError:
        return None
    return session.exec(query.where(col(ImprovementAction.id) == action_id)).first()


def list_for_case(
    session: Session,
    case_id: uuid.UUID,
    *,
    status: str | None = None,
    owner_agency: str | None = None,
    after_number: int = 0,
    limit: int = 500,
) -> list[ImprovementAction]:
    query = (
        select(ImprovementAction)
        .where(
            col(ImprovementAction.case_id) == case_id,
            col(ImprovementAction.number) > after_number,
        )
        .order_by(col(ImprovementAction.number))
        .limit(limit)
    )
    if status is not None:
        query = query.where(col(ImprovementAction.status) == status)
    if owner_agency is not None:
        query = query.where(col(ImprovementAction.owner_agency) == owner_agency)
    return list(session.exec(query))


def updates_for(session: Session, action_id: uuid.UUID) -> list[ActionUpdate]:
    """The action's update history, oldest first."""
    return list(
        session.exec(
            select(ActionUpdate)
            .where(col(ActionUpdate.action_id) == action_id)
            .order_by(col(ActionUpdate.seq))
        )
    )


def next_update_seq(session: Session, action_id: uuid.UUID) -> int:
    last = session.exec(
        select(func.max(ActionUpdate.seq)).where(col(ActionUpdate.action_id) == action_id)
    ).one()
    return int(last or 0) + 1


def claim_next_version(session: Session, action: ImprovementAction) -> bool:
    """Move `action` to its next version unless another request got there first (False).

    The case's own version is claimed first and serialises writers; this conditional UPDATE is
    the action's own guard, so an If-Match checked against a stale read cannot slip through.
    """
    result = session.execute(
        update(ImprovementAction)
        .where(
            col(ImprovementAction.id) == action.id,
            col(ImprovementAction.version) == action.version,
        )
        .values(version=action.version + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    action.version += 1
    return True


def clocks_for(session: Session, action_ids: list[uuid.UUID]) -> dict[uuid.UUID, Deadline]:
    """The latest clock of each action (a reopened action has a new one), keyed by action id."""
    if not action_ids:
        return {}
    latest: dict[uuid.UUID, Deadline] = {}
    rows = session.exec(
        select(Deadline)
        .where(col(Deadline.subject_id).in_(action_ids))
        .order_by(col(Deadline.sequence))
    )
    for row in rows:
        if row.subject_id is not None:
            latest[row.subject_id] = row
    return latest
