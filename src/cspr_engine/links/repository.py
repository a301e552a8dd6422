"""Queries on case links and shares. Nothing here commits."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, func, or_, tuple_
from sqlmodel import Session, col, select

from cspr_engine.access import policy
from cspr_engine.accounts.models import Partnership
from cspr_engine.accounts.schemas import Actor
from cspr_engine.cases.models import Case
from cspr_engine.links.models import CaseLink, CaseShare


def links_touching(
    session: Session, case_id: uuid.UUID, *, include_removed: bool = False
) -> list[CaseLink]:
    """The links added on the case and those added on another case to it, oldest first."""
    query = select(CaseLink).where(
        or_(col(CaseLink.case_id) == case_id, col(CaseLink.target_case_id) == case_id)
    )
    if not include_removed:
        query = query.where(col(CaseLink.removed_at).is_(None))
    return list(session.exec(query.order_by(col(CaseLink.created_at), col(CaseLink.id))))


def link_of_case(session: Session, case_id: uuid.UUID, link_id: uuid.UUID) -> CaseLink | None:
    """The link, if it was added on the case or points at it."""
    return session.exec(
        select(CaseLink).where(
            col(CaseLink.id) == link_id,
            or_(col(CaseLink.case_id) == case_id, col(CaseLink.target_case_id) == case_id),
        )
    ).first()


def active_link_between(
    session: Session, a: uuid.UUID, b: uuid.UUID, link_type: str
) -> CaseLink | None:
    """An active link of the type between the two cases, added on either of them (a link
    shows on both sides, so the reverse link would say the same)."""
    return session.exec(
        select(CaseLink).where(
            col(CaseLink.type) == link_type,
            col(CaseLink.removed_at).is_(None),
            or_(
                and_(col(CaseLink.case_id) == a, col(CaseLink.target_case_id) == b),
                and_(col(CaseLink.case_id) == b, col(CaseLink.target_case_id) == a),
            ),
        )
    ).first()


def active_external_link(
    session: Session, case_id: uuid.UUID, link_type: str, partnership: str, reference: str
) -> CaseLink | None:
    """An active link of the type from the case to the same external case (compared without
    regard to case)."""
    return session.exec(
        select(CaseLink).where(
            col(CaseLink.case_id) == case_id,
            col(CaseLink.type) == link_type,
            col(CaseLink.removed_at).is_(None),
            func.lower(col(CaseLink.external_partnership)) == partnership.lower(),
            func.lower(col(CaseLink.external_reference)) == reference.lower(),
        )
    ).first()


def linked_cases(session: Session, case_id: uuid.UUID, link_type: str) -> list[Case]:
    """The cases of this partnership linked to the case as `link_type` by an active link,
    added on either of them, oldest link first."""
    links = [link for link in links_touching(session, case_id) if link.type == link_type]
    others = [link.target_case_id if link.case_id == case_id else link.case_id for link in links]
    found = cases_by_id(session, [o for o in others if o is not None])
    return [found[o] for o in others if o is not None and o in found]


def cases_by_id(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Case]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {c.id: c for c in session.exec(select(Case).where(col(Case.id).in_(wanted)))}


def visible_ids(session: Session, actor: Actor, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Which of the cases `actor` may read (access.policy decides)."""
    wanted = sorted(set(ids))
    if not wanted:
        return set()
    return set(
        session.exec(select(Case.id).where(col(Case.id).in_(wanted), policy.readable_cases(actor)))
    )


# -- shares -----------------------------------------------------------------------------------


def shares_of_case(
    session: Session, case_id: uuid.UUID, *, grantee: uuid.UUID | None = None
) -> list[CaseShare]:
    """The case's shares (only those with `grantee`, when given), oldest first."""
    query = select(CaseShare).where(col(CaseShare.case_id) == case_id)
    if grantee is not None:
        query = query.where(col(CaseShare.grantee_partnership_id) == grantee)
    return list(session.exec(query.order_by(col(CaseShare.granted_at), col(CaseShare.id))))


def share_of_case(session: Session, case_id: uuid.UUID, share_id: uuid.UUID) -> CaseShare | None:
    return session.exec(
        select(CaseShare).where(col(CaseShare.id) == share_id, col(CaseShare.case_id) == case_id)
    ).first()


def active_share(session: Session, case_id: uuid.UUID, grantee: uuid.UUID) -> CaseShare | None:
    return session.exec(
        select(CaseShare).where(
            col(CaseShare.case_id) == case_id,
            col(CaseShare.grantee_partnership_id) == grantee,
            col(CaseShare.revoked_at).is_(None),
        )
    ).first()


def incoming_shares(
    session: Session, actor: Actor, *, limit: int, after: tuple[datetime, uuid.UUID] | None
) -> list[CaseShare]:
    """Active shares with `actor`'s partnership of cases `actor` may read, newest first."""
    if actor.partnership_id is None:
        return []
    query = (
        select(CaseShare)
        .join(Case, col(Case.id) == col(CaseShare.case_id))
        .where(
            col(CaseShare.grantee_partnership_id) == actor.partnership_id,
            col(CaseShare.revoked_at).is_(None),
            policy.readable_cases(actor),
        )
    )
    if after is not None:
        query = query.where(tuple_(CaseShare.granted_at, CaseShare.id) < tuple_(*after))
    query = query.order_by(col(CaseShare.granted_at).desc(), col(CaseShare.id).desc())
    return list(session.exec(query.limit(limit)))


def partnerships_by_id(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Partnership codes by id."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.exec(select(Partnership).where(col(Partnership.id).in_(wanted)))
    return {p.id: p.code for p in rows}


def other_partnerships(session: Session, excluding: uuid.UUID) -> list[Partnership]:
    """Every partnership but one, by code (those a case could be shared with)."""
    return list(
        session.exec(
            select(Partnership)
            .where(col(Partnership.id) != excluding)
            .order_by(col(Partnership.code))
        )
    )
