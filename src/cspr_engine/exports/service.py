"""Exports of a case, built from the other packages' services and their own `present` functions,
so that an export says what the individual endpoints say to the same reader, no more:

- the rapid review submission pack (`pack_of`, `render_pack`), for anyone who reads the case;
- the case's full record as JSON (`record_of`), for the roles in `policy.RECORD_EXPORTERS` of the
  case's own partnership, the access log in it only for those who may read the access log.

Nothing here writes: the access log records the reading (the routes use CaseDep).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from sqlmodel import Session

from cspr_engine.access import policy
from cspr_engine.access import repository as access_repository
from cspr_engine.access.schemas import AccessEventRead
from cspr_engine.accounts.schemas import Actor
from cspr_engine.actions import repository as action_repository
from cspr_engine.actions import service as action_service
from cspr_engine.actions.models import ImprovementAction
from cspr_engine.audit import repository as audit_repository
from cspr_engine.audit.models import AuditEvent
from cspr_engine.cases import service as case_service
from cspr_engine.cases.models import Case
from cspr_engine.cases.schemas import AuditEventRead
from cspr_engine.documents import repository as document_repository
from cspr_engine.documents import service as document_service
from cspr_engine.documents.models import Document
from cspr_engine.exports import content, pack
from cspr_engine.exports.exceptions import ExportForbidden, NoSubmissionPack
from cspr_engine.exports.schemas import MEDIA_TYPES, CaseRecord, Exporter, PackFormat
from cspr_engine.information_requests import repository as request_repository
from cspr_engine.information_requests import service as request_service
from cspr_engine.links import service as link_service
from cspr_engine.workflow import service as workflow_service
from cspr_engine.workflow.definitions import WorkflowDefinition

# Rows read per query while gathering everything of a case.
BATCH = 500
EXTENSIONS = {PackFormat.md: "md", PackFormat.docx: "docx"}

T = TypeVar("T")


def _every(page: Callable[[T | None], Sequence[T]]) -> list[T]:
    """All rows of a keyset-paginated query: `page(last_row_or_None)` gives the next batch."""
    rows: list[T] = []
    while True:
        batch = page(rows[-1] if rows else None)
        rows += batch
        if len(batch) < BATCH:
            return rows


def _events(session: Session, case: Case) -> list[AuditEvent]:
    return _every(
        lambda last: audit_repository.events_for_case(
            session, case.id, after_seq=last.seq if last else 0, limit=BATCH
        )
    )


def _actions(session: Session, case: Case) -> list[ImprovementAction]:
    return _every(
        lambda last: action_repository.list_for_case(
            session, case.id, after_number=last.number if last else 0, limit=BATCH
        )
    )


def _documents(session: Session, case: Case) -> list[Document]:
    return _every(
        lambda last: document_repository.for_case(
            session,
            case.id,
            limit=BATCH,
            after=(last.uploaded_at, last.id) if last else None,
        )
    )


def _access(session: Session, case: Case) -> list[AccessEventRead]:
    rows = _every(
        lambda last: access_repository.events_for_case(
            session, case.id, before=(last.at, last.id) if last else None, limit=BATCH
        )
    )
    return [AccessEventRead.model_validate(e, from_attributes=True) for e in rows]


# -- the submission pack ---------------------------------------------------------------------


def has_pack(definition: WorkflowDefinition) -> bool:
    """A submission pack is the Panel's rapid review template: only a workflow with a rapid
    review has one (not, say, a child death review)."""
    return content.PACK_TRIGGER in definition.triggers


def pack_of(session: Session, *, case: Case, actor: Actor, now: datetime) -> content.Pack:
    """The rapid review submission pack of `case` at its present stage, as `actor` reads it."""
    definition = workflow_service.definition_for(case)
    if not has_pack(definition):
        raise NoSubmissionPack(
            f"A {definition.title} case has no rapid review, so no submission pack.",
            workflow=case.workflow,
        )
    requests = request_repository.for_case(session, case.id)
    return content.build(
        content.PackData(
            case=case_service.present(session, case, actor, now),
            definition=definition,
            requests=request_service.present(
                session, [(r, case) for r in requests], {case.id: definition}, now
            ),
            actions=action_service.present(session, case, _actions(session, case), actor, now),
            events=[
                AuditEventRead.model_validate(e, from_attributes=True)
                for e in _events(session, case)
            ],
            now=now,
        )
    )


def render_pack(built: content.Pack, fmt: PackFormat) -> bytes:
    """The pack's bytes in `fmt`."""
    if fmt is PackFormat.docx:
        # python-docx (and lxml) only when a Word pack is asked for: not at every start-up.
        from cspr_engine.exports import word

        return word.render(built)
    return pack.render(built).encode("utf-8")


def media_type(fmt: PackFormat) -> str:
    return MEDIA_TYPES[fmt] + ("; charset=utf-8" if fmt is PackFormat.md else "")


def _safe(reference: str) -> str:
    # References are `<code>-<year>-<nnnn>`; anything else is kept out of a header.
    return re.sub(r"[^A-Za-z0-9-]", "_", reference) or "case"


def pack_filename(case: Case, fmt: PackFormat) -> str:
    return f"{_safe(case.reference)}-rapid-review-pack.{EXTENSIONS[fmt]}"


def record_filename(case: Case) -> str:
    return f"{_safe(case.reference)}-record.json"


def attachment(filename: str) -> str:
    """`Content-Disposition` for a download named `filename` (ASCII, see `_safe`)."""
    return f'attachment; filename="{filename}"'


# -- the full record -------------------------------------------------------------------------


def exporting_role(actor: Actor) -> bool:
    """Whether one of `actor`'s roles is among `policy.RECORD_EXPORTERS`."""
    return bool(actor.roles & policy.RECORD_EXPORTERS)


def may_export(actor: Actor, case: Case) -> bool:
    """Whether `actor` may export `case`'s record: an exporting role of the case's own
    partnership (a partnership it is shared with reads it, but the record, and what is
    disclosed from it, are the owner's)."""
    return exporting_role(actor) and policy.may_change(actor, case)


def check_may_export(actor: Actor, case: Case) -> None:
    """Raises ExportForbidden unless `may_export`."""
    if not policy.may_change(actor, case):
        raise ExportForbidden("The record of a shared case is exported by its own partnership.")
    if not may_export(actor, case):
        raise ExportForbidden(
            "A case's record is exported by the panel chair, the business unit or the scrutineer."
        )


def record_of(session: Session, *, case: Case, actor: Actor, now: datetime) -> CaseRecord:
    """`case`'s full record as `actor` reads it at `now`; raises ExportForbidden unless
    `may_export`."""
    check_may_export(actor, case)
    definition = workflow_service.definition_for(case)
    shown = case_service.present(session, case, actor, now)
    requests = request_repository.for_case(session, case.id)
    return CaseRecord(
        exported_at=now,
        exported_by=Exporter(
            user_id=actor.user_id,
            partnership=actor.partnership_code,
            roles=sorted(actor.roles),
            agency=actor.agency,
        ),
        case=shown,
        events=[
            AuditEventRead.model_validate(e, from_attributes=True) for e in _events(session, case)
        ],
        deadlines=shown.deadlines,
        approvals=shown.approvals,
        information_requests=request_service.present(
            session, [(r, case) for r in requests], {case.id: definition}, now
        ),
        actions=[
            action_service.present_detail(session, case, a, actor, now)
            for a in _actions(session, case)
        ],
        links=link_service.links_for(session, case, actor, include_removed=True),
        shares=link_service.present_shares(
            session, link_service.shares_for(session, case, actor), {case.id: case}
        ),
        documents=[document_service.present(d) for d in _documents(session, case)],
        access=(
            _access(session, case) if policy.may(actor, policy.Permission.read_access_log) else None
        ),
    )
