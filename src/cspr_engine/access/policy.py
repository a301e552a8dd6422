"""Who may see and do what: the one place authorisation is decided.

Two tables below hold every rule that is not the workflow's own:

- `CASE_READ`: how far each role reaches into its partnership's cases. An actor reaches as far
  as its widest role; nothing reaches another partnership's cases (they are 404, never 403).
- `PERMISSIONS`: the non-case actions and the roles that may take them.

Changing a case is the workflow's business: `workflows/*.yaml` names the roles that may open a
case, fire each trigger, vote at each gate and extend each clock (enforced by
`workflow.engine.check_trigger`, `approvals.service.cast_vote`, `deadlines.service.extend`).
`check_workflow` holds those files to this module's one rule about writes: the roles in
`READ_ONLY_ROLES` change nothing, whatever a workflow file says.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum, StrEnum
from typing import Any

from sqlalchemy import Uuid, and_, exists, false, literal, or_, select, union
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CompoundSelect, Select
from sqlmodel import col

from cspr_engine.accounts.schemas import Actor, Role
from cspr_engine.actions.models import ImprovementAction
from cspr_engine.cases.models import Case
from cspr_engine.information_requests.models import InformationRequest
from cspr_engine.links.models import CaseShare
from cspr_engine.workflow.definitions import RoleRef, WorkflowDefinition


class Reach(IntEnum):
    """How many of its own partnership's cases a role reads (ordered: wider is larger)."""

    none = 0  # no case content at all
    referred = 1  # cases its agency referred, it opened, or its agency was asked to contribute to
    partnership = 2  # every case of its partnership


CASE_READ: Mapping[str, Reach] = {
    Role.panel_chair: Reach.partnership,
    Role.business_unit: Reach.partnership,
    Role.dsp: Reach.partnership,
    Role.lsp: Reach.partnership,
    Role.scrutineer: Reach.partnership,
    Role.qpd: Reach.partnership,
    Role.referrer: Reach.referred,
    # Manages its partnership's accounts, tokens and webhooks; reads a case only through another
    # role. (The national calendar is the platform administrators'.)
    Role.admin: Reach.none,
}


class Permission(StrEnum):
    read_access_log = "read_access_log"  # who read a case, and who tried to
    read_admin_audit = "read_admin_audit"  # who changed accounts, tokens, webhooks, settings
    manage_webhooks = "manage_webhooks"
    manage_calendar = "manage_calendar"
    read_reports = "read_reports"  # issue #7: the timeliness and activity report (reports/)


PERMISSIONS: Mapping[Permission, frozenset[str]] = {
    Permission.read_access_log: frozenset({Role.panel_chair, Role.scrutineer}),
    Permission.read_admin_audit: frozenset({Role.panel_chair, Role.scrutineer}),
    Permission.manage_webhooks: frozenset({Role.admin}),
    # The England & Wales calendar is national: a day added to it moves the clocks of every
    # partnership, so no partnership's role changes it; platform administrators do.
    Permission.manage_calendar: frozenset(),
    # Issue #7: roles that read every case of their partnership, so a report shows none they
    # could not open.
    Permission.read_reports: frozenset(
        {Role.panel_chair, Role.business_unit, Role.dsp, Role.lsp, Role.scrutineer, Role.qpd}
    ),
}


class Casework(StrEnum):
    """Changes to a case's records besides its state (each also needs the case readable and
    of the actor's own partnership: `may_change`)."""

    request_information = "request_information"  # ask an agency for a return; withdraw it
    answer_information = "answer_information"  # only for a request to the actor's agency
    create_action = "create_action"
    update_action = "update_action"  # any action; an owner agency's users update their own
    update_own_action = "update_own_action"
    link_cases = "link_cases"
    share_case = "share_case"
    upload_document = "upload_document"
    withdraw_document = "withdraw_document"


CASEWORK: Mapping[Casework, frozenset[str]] = {
    Casework.request_information: frozenset({Role.business_unit, Role.panel_chair}),
    Casework.answer_information: frozenset({Role.referrer, Role.dsp}),
    Casework.create_action: frozenset({Role.qpd, Role.panel_chair}),
    Casework.update_action: frozenset({Role.qpd, Role.panel_chair}),
    Casework.update_own_action: frozenset({Role.referrer, Role.dsp}),
    Casework.link_cases: frozenset({Role.business_unit, Role.panel_chair}),
    Casework.share_case: frozenset({Role.business_unit, Role.panel_chair}),
    Casework.upload_document: frozenset({Role.business_unit, Role.panel_chair, Role.qpd}),
    Casework.withdraw_document: frozenset({Role.business_unit, Role.panel_chair}),
}


def may_casework(actor: Actor, permission: Casework) -> bool:
    """Whether `actor`'s roles allow the casework change (agency conditions are the caller's)."""
    return bool(actor.roles & CASEWORK[permission])


# What a platform admin (no partnership, no case role) may do.
PLATFORM_ADMIN: frozenset[Permission] = frozenset(
    {Permission.manage_webhooks, Permission.manage_calendar}
)

# Roles that never change a case: the independent scrutineer reads everything in its
# partnership and changes nothing; an admin reads no case content, so it changes none either.
READ_ONLY_ROLES: frozenset[str] = frozenset({Role.scrutineer, Role.admin})


def reach(actor: Actor) -> Reach:
    """How far `actor` reads into its own partnership's cases: its widest role decides."""
    if actor.is_platform_admin or actor.partnership_id is None:
        return Reach.none
    return max((CASE_READ.get(role, Reach.none) for role in actor.roles), default=Reach.none)


def readable_cases(actor: Actor, *, one: bool = False) -> ColumnElement[bool]:
    """The cases `actor` may read, as a WHERE clause on `cases` (for single reads, lists and
    anything joined to a case, such as the alert inbox). `one`: the query names one case by a
    unique key, so the planner starts from that key's index."""
    widest = reach(actor)
    if widest is Reach.none:
        return false()
    own_partnership = col(Case.partnership_id) == actor.partnership_id
    if widest is Reach.partnership:
        if one:
            return or_(own_partnership, shared_with(actor))
        # The first term is implied by the second; it is there for the planner, which cannot
        # use the partnership indexes through an OR with EXISTS and would test every case.
        return and_(
            col(Case.partnership_id).in_(partnerships_read(actor)),
            or_(own_partnership, shared_with(actor)),
        )
    mine = [col(Case.created_by) == actor.user_id]
    if actor.agency is not None:
        mine.append(col(Case.referring_agency) == actor.agency)
    mine.append(asked_to_contribute(actor))
    mine.append(owns_an_action(actor))
    return and_(own_partnership, or_(*mine))


def readable_parts(actor: Actor) -> list[ColumnElement[bool]]:
    """readable_cases(actor) as disjoint conditions, each with an index of its own to start
    from: the actor's partnership's cases, and the cases other partnerships share with it.
    A list reads each part in order and merges them, so a page of a partnership's cases costs
    the same however many cases every partnership has (an OR of the two would make the
    database fetch and sort all the partnership's cases for each page)."""
    if reach(actor) is not Reach.partnership:
        return [readable_cases(actor)]
    return [
        col(Case.partnership_id) == actor.partnership_id,
        and_(
            col(Case.id).in_(shared_case_ids(actor)),
            col(Case.partnership_id) != actor.partnership_id,
        ),
    ]


def shared_case_ids(actor: Actor) -> Select[Any]:
    """The ids of the cases shared, until revoked, with `actor`'s partnership."""
    return select(col(CaseShare.case_id)).where(
        col(CaseShare.grantee_partnership_id) == actor.partnership_id,
        col(CaseShare.revoked_at).is_(None),
    )


def asked_to_contribute(actor: Actor) -> ColumnElement[bool]:
    """Cases `actor`'s agency was asked for an information return on (a referrer reads those
    too, to answer), unless the request was withdrawn."""
    if actor.agency is None:
        return false()
    return (
        exists()
        .where(
            col(InformationRequest.case_id) == col(Case.id),
            col(InformationRequest.partnership_id) == actor.partnership_id,
            col(InformationRequest.agency) == actor.agency,
            col(InformationRequest.status) != "withdrawn",
        )
        .correlate(Case)
    )


def owns_an_action(actor: Actor) -> ColumnElement[bool]:
    """Cases where `actor`'s agency owns an improvement action (it reports on its progress)."""
    if actor.agency is None:
        return false()
    return (
        exists()
        .where(
            col(ImprovementAction.case_id) == col(Case.id),
            col(ImprovementAction.partnership_id) == actor.partnership_id,
            col(ImprovementAction.owner_agency) == actor.agency,
        )
        .correlate(Case)
    )


def partnerships_read(actor: Actor) -> CompoundSelect[Any]:
    """The actor's partnership and those that share a case with it, as a subquery."""
    owner = aliased(Case)
    sharing = (
        select(col(owner.partnership_id))
        .join(CaseShare, col(CaseShare.case_id) == owner.id)
        .where(
            col(CaseShare.grantee_partnership_id) == actor.partnership_id,
            col(CaseShare.revoked_at).is_(None),
        )
    )
    return union(select(literal(actor.partnership_id, Uuid)), sharing)


def shared_with(actor: Actor) -> ColumnElement[bool]:
    """Another partnership's cases shared, read-only and until revoked, with `actor`'s
    partnership (its roles that read every case of their own partnership read these)."""
    return (
        exists()
        .where(
            col(CaseShare.case_id) == col(Case.id),
            col(CaseShare.grantee_partnership_id) == actor.partnership_id,
            col(CaseShare.revoked_at).is_(None),
        )
        .correlate(Case)
    )


def may_change(actor: Actor, case: Case) -> bool:
    """Only the case's own partnership changes it: a shared case is read-only."""
    return actor.partnership_id == case.partnership_id


def may(actor: Actor, permission: Permission) -> bool:
    if actor.is_platform_admin:
        return permission in PLATFORM_ADMIN
    return actor.partnership_id is not None and bool(actor.roles & PERMISSIONS[permission])


def check_workflow(definition: WorkflowDefinition) -> list[str]:
    """Faults where `definition` lets a read-only role change a case (empty: none)."""
    grants: list[tuple[str, tuple[RoleRef, ...]]] = [("create", definition.create.role_refs)]
    grants += [(f"trigger {t.name}", t.role_refs) for t in definition.triggers.values()]
    grants += [(f"gate {g.name}", g.party_refs) for g in definition.gates.values()]
    grants += [
        (f"clock {c.key} extendable_by", tuple(map(RoleRef.parse, c.extendable_by)))
        for c in definition.clocks.values()
    ]
    return [
        f"{definition.name} v{definition.version} {where}: {ref.role} changes nothing"
        for where, refs in grants
        for ref in refs
        if ref.role in READ_ONLY_ROLES
    ]


# Issue #7 (exports): who may take a case's full record away as JSON, for a Panel request or a
# subject access request (exports.service): the panel chair, the business unit and the
# independent scrutineer, of the case's own partnership.
RECORD_EXPORTERS: frozenset[str] = frozenset(
    {Role.panel_chair, Role.business_unit, Role.scrutineer}
)
