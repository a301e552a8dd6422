"""Rules for linked cases and shares.

A link ties the case to another case of its partnership (it shows on both, and both cases'
timelines record it) or to another partnership's case by that partnership's reference. A
share lets another partnership's partnership-wide roles read the case, never change it, until
it is revoked (access.policy reads the shares). Both are changes to the case's record: each
moves the case to its next version with an audit event. Nothing here commits.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session

from cspr_engine.access import policy
from cspr_engine.accounts import repository as accounts_repository
from cspr_engine.accounts.schemas import Actor
from cspr_engine.audit import service as audit_service
from cspr_engine.cases import repository as case_repository
from cspr_engine.cases.exceptions import SharedCaseReadOnly
from cspr_engine.cases.models import Case
from cspr_engine.errors import FieldError, InvalidData
from cspr_engine.links import repository
from cspr_engine.links.exceptions import (
    DuplicateLink,
    DuplicateShare,
    LinkAlreadyRemoved,
    LinkForbidden,
    LinkNotFound,
    LinkTargetNotFound,
    ShareAlreadyRevoked,
    ShareForbidden,
    ShareNotFound,
)
from cspr_engine.links.models import CaseLink, CaseShare
from cspr_engine.links.schemas import (
    EXTERNAL_ONLY,
    TARGET_ONLY,
    LinkCreate,
    LinkedCase,
    LinkRead,
    ShareCreate,
    ShareRead,
)
from cspr_engine.workflow import service as workflow_service


def _check_writer(case: Case, actor: Actor, permission: policy.Casework) -> None:
    if not policy.may_change(actor, case):
        raise SharedCaseReadOnly(
            "This case is shared with your partnership to read; only its own partnership "
            "changes it."
        )
    if not policy.may_casework(actor, permission):
        roles = ", ".join(sorted(policy.CASEWORK[permission]))
        err = LinkForbidden if permission is policy.Casework.link_cases else ShareForbidden
        raise err(f"Only these roles may do that: {roles}.")


def _claim(
    session: Session, cases: list[Case], path_case: Case, expected: frozenset[int] | None
) -> None:
    """Move each case to its next version, in id order: two requests linking the same two
    cases from either side lock them in the same order (no deadlock); the loser of the race
    for a version sees 0 rows and answers 409. If-Match is about the case in the path."""
    for c in sorted(cases, key=lambda c: c.id):
        case_repository.claim_next_version(session, c, expected if c is path_case else None)


def _shape_errors(payload: LinkCreate, own_code: str | None) -> list[FieldError]:
    """Which side of the link the type needs: a case of this partnership, another
    partnership's case, or (a child death review) either, never both."""
    errors: list[FieldError] = []
    external = payload.external_partnership is not None or payload.external_reference is not None
    if payload.type in TARGET_ONLY:
        if payload.target is None:
            errors.append(FieldError(loc="target", message="Field required", type="missing"))
        for name in ("external_partnership", "external_reference"):
            if getattr(payload, name) is not None:
                errors.append(
                    FieldError(
                        loc=name,
                        message="is only for a link to another partnership's case",
                        type="not_allowed",
                    )
                )
        return errors
    if payload.type in EXTERNAL_ONLY and payload.target is not None:
        errors.append(
            FieldError(
                loc="target",
                message="is a case of this partnership: link another partnership's case by "
                "external_partnership and external_reference",
                type="not_allowed",
            )
        )
    elif payload.target is not None and external:
        errors.append(
            FieldError(
                loc="target",
                message="give either a case of this partnership or another partnership's "
                "case, not both",
                type="not_allowed",
            )
        )
    if payload.type not in EXTERNAL_ONLY and payload.target is None and not external:
        errors.append(
            FieldError(
                loc="target",
                message="is required, unless the case is another partnership's or body's "
                "(then give external_partnership and external_reference)",
                type="missing",
            )
        )
    elif payload.type in EXTERNAL_ONLY or payload.target is None:
        for name in ("external_partnership", "external_reference"):
            if getattr(payload, name) is None:
                errors.append(FieldError(loc=name, message="Field required", type="missing"))
    if (
        payload.external_partnership is not None
        and own_code is not None
        and payload.external_partnership.upper() == own_code.upper()
    ):
        errors.append(
            FieldError(
                loc="external_partnership",
                message="is this case's own partnership: link its case by target",
                type="not_allowed",
            )
        )
    return errors


def add_link(
    session: Session,
    *,
    case: Case,
    payload: LinkCreate,
    actor: Actor,
    now: datetime,
    expected_version: frozenset[int] | None,
) -> CaseLink:
    """Link `case` to another case; raises DuplicateLink if the two are already linked so
    (from either side), LinkTargetNotFound for a target the actor cannot read."""
    case_repository.check_precondition(case, expected_version)
    _check_writer(case, actor, policy.Casework.link_cases)
    own_code = accounts_repository.partnership_code(session, case.partnership_id)
    errors = _shape_errors(payload, own_code)
    if errors:
        raise InvalidData(errors)
    target: Case | None = None
    if payload.target is not None:
        target = case_repository.get_visible(session, actor, payload.target)
        if target is None:
            raise LinkTargetNotFound(
                "No case with that id or reference is visible to you.", field="target"
            )
        if target.id == case.id:
            raise InvalidData(
                [FieldError(loc="target", message="cannot be the case itself", type="self_link")]
            )
        if target.partnership_id != case.partnership_id:
            raise InvalidData(
                [
                    FieldError(
                        loc="target",
                        message="is another partnership's case: link it as other_partnership "
                        "with its reference",
                        type="not_allowed",
                    )
                ]
            )
        if repository.active_link_between(session, case.id, target.id, payload.type):
            raise DuplicateLink(
                f"The cases are already linked as {payload.type}.", link_type=payload.type
            )
    elif repository.active_external_link(
        session,
        case.id,
        payload.type,
        payload.external_partnership or "",
        payload.external_reference or "",
    ):
        raise DuplicateLink(
            f"The case is already linked to that case as {payload.type}.", link_type=payload.type
        )
    _claim(session, [case] if target is None else [case, target], case, expected_version)
    link = CaseLink(
        case_id=case.id,
        type=payload.type,
        target_case_id=target.id if target is not None else None,
        external_partnership=payload.external_partnership,
        external_reference=payload.external_reference,
        note=payload.note,
        created_by=actor.user_id,
        created_at=now,
    )
    session.add(link)
    data: dict[str, str] = {"link_id": str(link.id), "type": link.type}
    if target is not None:
        data["linked_case"] = target.reference
    else:
        data["external_partnership"] = payload.external_partnership or ""
        data["external_reference"] = payload.external_reference or ""
    _audit(session, case, actor, "link.added", now, {**data, "direction": "outgoing"})
    if target is not None:
        incoming = {**data, "linked_case": case.reference, "direction": "incoming"}
        _audit(session, target, actor, "link.added", now, incoming)
    session.flush()
    return link


def remove_link(
    session: Session,
    *,
    case: Case,
    link_id: uuid.UUID,
    actor: Actor,
    now: datetime,
    expected_version: frozenset[int] | None,
) -> CaseLink:
    """Mark the link removed (the row stays, and both cases' timelines record it), from
    either of its cases."""
    case_repository.check_precondition(case, expected_version)
    _check_writer(case, actor, policy.Casework.link_cases)
    link = repository.link_of_case(session, case.id, link_id)
    if link is None:
        raise LinkNotFound("The case has no link with that id.")
    if link.removed_at is not None:
        raise LinkAlreadyRemoved("The link was already removed.", link_id=str(link.id))
    other_id = link.target_case_id if link.case_id == case.id else link.case_id
    other = session.get(Case, other_id) if other_id is not None else None
    _claim(session, [case] if other is None else [case, other], case, expected_version)
    link.removed_at = now
    link.removed_by = actor.user_id
    session.add(link)
    for c, o in ((case, other), (other, case)):
        if c is None:
            continue
        data: dict[str, str] = {"link_id": str(link.id), "type": link.type}
        if o is not None:
            data["linked_case"] = o.reference
        else:
            data["external_partnership"] = link.external_partnership or ""
            data["external_reference"] = link.external_reference or ""
        data["direction"] = "outgoing" if link.case_id == c.id else "incoming"
        _audit(session, c, actor, "link.removed", now, data)
    session.flush()
    return link


def _audit(
    session: Session,
    case: Case,
    actor: Actor,
    kind: str,
    now: datetime,
    data: dict[str, str],
    comment: str | None = None,
) -> None:
    case.updated_at = now
    session.add(case)
    audit_service.record(
        session=session,
        case=case,
        actor=actor,
        kind=kind,
        now=now,
        from_state=case.state,
        to_state=case.state,
        data=data,
        comment=comment,
    )


def present_links(
    session: Session, case: Case, actor: Actor, links: list[CaseLink]
) -> list[LinkRead]:
    """The links as `case`'s readers see them. The other case of a link shows its reference
    to anyone who reads this case; its id, state and the link's note only to those who may
    read the other case too (a note may speak of it)."""
    other_ids = [
        key
        for link in links
        if (key := link.target_case_id if link.case_id == case.id else link.case_id) is not None
    ]
    others = repository.cases_by_id(session, other_ids)
    readable = repository.visible_ids(session, actor, other_ids)
    out = []
    for link in links:
        outgoing = link.case_id == case.id
        other_id = link.target_case_id if outgoing else link.case_id
        other = others.get(other_id) if other_id is not None else None
        shown: LinkedCase | None = None
        note = link.note
        if other is not None:
            if other.id in readable:
                definition = workflow_service.definition_for(other)
                state = definition.states.get(other.state)
                shown = LinkedCase(
                    reference=other.reference,
                    visible=True,
                    id=other.id,
                    state=other.state,
                    state_label=state.label if state is not None else other.state,
                )
            else:
                shown = LinkedCase(reference=other.reference, visible=False)
                note = None
        out.append(
            LinkRead(
                id=link.id,
                type=link.type,  # type: ignore[arg-type]
                direction="outgoing" if outgoing else "incoming",
                case=shown,
                external_partnership=link.external_partnership,
                external_reference=link.external_reference,
                note=note,
                created_by=link.created_by,
                created_at=link.created_at,
                removed_by=link.removed_by,
                removed_at=link.removed_at,
            )
        )
    return out


def links_for(
    session: Session, case: Case, actor: Actor, *, include_removed: bool = False
) -> list[LinkRead]:
    """Every link of the case as `actor` sees it, both directions, oldest first."""
    links = repository.links_touching(session, case.id, include_removed=include_removed)
    return present_links(session, case, actor, links)


# -- shares -----------------------------------------------------------------------------------


def grant_share(
    session: Session,
    *,
    case: Case,
    payload: ShareCreate,
    actor: Actor,
    now: datetime,
    expected_version: frozenset[int] | None,
) -> CaseShare:
    """Share `case`, read-only, with another partnership; one active share per partnership."""
    case_repository.check_precondition(case, expected_version)
    _check_writer(case, actor, policy.Casework.share_case)
    grantee = accounts_repository.partnership_by_code(session, payload.partnership)
    if grantee is None:
        raise InvalidData(
            [FieldError(loc="partnership", message="no partnership has that code", type="unknown")]
        )
    if grantee.id == case.partnership_id:
        raise InvalidData(
            [
                FieldError(
                    loc="partnership",
                    message="is this case's own partnership",
                    type="not_allowed",
                )
            ]
        )
    if repository.active_share(session, case.id, grantee.id) is not None:
        raise DuplicateShare(
            f"The case is already shared with {grantee.code}; revoke that share first.",
            partnership=grantee.code,
        )
    _claim(session, [case], case, expected_version)
    share = CaseShare(
        case_id=case.id,
        grantee_partnership_id=grantee.id,
        reason=payload.reason,
        granted_by=actor.user_id,
        granted_at=now,
    )
    session.add(share)
    data = {"share_id": str(share.id), "partnership": grantee.code}
    _audit(session, case, actor, "case.shared", now, data, comment=payload.reason)
    session.flush()
    return share


def revoke_share(
    session: Session,
    *,
    case: Case,
    share_id: uuid.UUID,
    reason: str,
    actor: Actor,
    now: datetime,
    expected_version: frozenset[int] | None,
) -> CaseShare:
    """End a share: from now on the grantee partnership no longer reads the case."""
    case_repository.check_precondition(case, expected_version)
    _check_writer(case, actor, policy.Casework.share_case)
    share = repository.share_of_case(session, case.id, share_id)
    if share is None:
        raise ShareNotFound("The case has no share with that id.")
    if share.revoked_at is not None:
        raise ShareAlreadyRevoked("The share was already revoked.", share_id=str(share.id))
    _claim(session, [case], case, expected_version)
    share.revoked_at = now
    share.revoked_by = actor.user_id
    share.revoke_reason = reason
    session.add(share)
    code = accounts_repository.partnership_code(session, share.grantee_partnership_id) or ""
    data = {"share_id": str(share.id), "partnership": code}
    _audit(session, case, actor, "case.share_revoked", now, data, comment=reason)
    session.flush()
    return share


def shares_for(session: Session, case: Case, actor: Actor) -> list[CaseShare]:
    """The case's shares, oldest first: all of them for its own partnership's readers; a
    grantee partnership's readers see their own share only."""
    if policy.may_change(actor, case):
        return repository.shares_of_case(session, case.id)
    return repository.shares_of_case(session, case.id, grantee=actor.partnership_id)


def present_shares(
    session: Session, shares: list[CaseShare], cases: dict[uuid.UUID, Case] | None = None
) -> list[ShareRead]:
    cases = dict(cases or {})
    missing = [s.case_id for s in shares if s.case_id not in cases]
    cases.update(repository.cases_by_id(session, missing))
    codes = repository.partnerships_by_id(
        session,
        [s.grantee_partnership_id for s in shares] + [c.partnership_id for c in cases.values()],
    )
    return [
        ShareRead(
            id=s.id,
            case_id=s.case_id,
            case_reference=cases[s.case_id].reference,
            shared_by=codes.get(cases[s.case_id].partnership_id, ""),
            partnership=codes.get(s.grantee_partnership_id, ""),
            reason=s.reason,
            active=s.revoked_at is None,
            granted_by=s.granted_by,
            granted_at=s.granted_at,
            revoked_by=s.revoked_by,
            revoked_at=s.revoked_at,
            revoke_reason=s.revoke_reason,
        )
        for s in shares
    ]
