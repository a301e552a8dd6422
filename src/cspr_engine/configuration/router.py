"""HTTP for partnership configuration: what a partnership has chosen among the rules its
workflows mark configurable, each change a new version (who, when, why)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from cspr_engine.accounts import repository as accounts_repository
from cspr_engine.accounts.dependencies import ActorDep
from cspr_engine.accounts.exceptions import NotAnAdministrator
from cspr_engine.accounts.models import Partnership
from cspr_engine.accounts.schemas import Actor, Role
from cspr_engine.configuration import repository
from cspr_engine.configuration import service as configuration_service
from cspr_engine.configuration.exceptions import (
    ConfigurationChanged,
    NotYourPartnership,
    PartnershipNotFound,
)
from cspr_engine.configuration.models import WorkflowConfiguration
from cspr_engine.configuration.schemas import (
    ConfigurationRead,
    ConfigurationUpdate,
    ConfigurationVersionList,
    ConfigurationVersionRead,
    SettingRead,
)
from cspr_engine.db import SessionDep
from cspr_engine.errors import (
    ConcurrentUpdate,
    InvalidQuery,
    MalformedBody,
    PayloadTooLarge,
    error_responses,
)
from cspr_engine.kit.clock import ClockDep
from cspr_engine.kit.http import IfMatch, documented_headers, etag, parse_if_match
from cspr_engine.kit.pagination import CursorQuery, LimitQuery, decode_cursor, encode_cursor
from cspr_engine.workflow import service as workflow_service
from cspr_engine.workflow.definitions import WorkflowDefinition
from cspr_engine.workflow.exceptions import WorkflowNotFound

router = APIRouter(tags=["configuration"])

PATH = "/partnerships/{code}/workflows/{workflow}/configuration"
Code = Annotated[str, Path(max_length=16, description="The partnership's code, e.g. TW.")]
Workflow = Annotated[str, Path(max_length=64, description="The workflow's name, e.g. cspr.")]


def _partnership(session: Session, actor: Actor, code: str) -> Partnership:
    found = accounts_repository.partnership_by_code(session, code.upper())
    if found is None:
        raise PartnershipNotFound(f"There is no partnership {code!r}.")
    if not actor.is_platform_admin and actor.partnership_id != found.id:
        raise NotYourPartnership("A partnership's configuration is its own users' to see.")
    return found


def _definition(workflow: str) -> WorkflowDefinition:
    try:
        return workflow_service.latest(workflow)
    except WorkflowNotFound:
        raise WorkflowNotFound(f"There is no workflow {workflow!r}.", workflow=workflow) from None


def _read(
    partnership: Partnership, definition: WorkflowDefinition, row: WorkflowConfiguration | None
) -> ConfigurationRead:
    values = row.values if row is not None else {}
    return ConfigurationRead(
        partnership=partnership.code,
        workflow=definition.name,
        workflow_version=definition.version,
        version=row.version if row is not None else 0,
        settings=[
            SettingRead(
                key=s.key,
                label=s.label,
                basis=s.basis,
                type=s.type,
                options=list(s.options) if s.type == "choice" else None,
                unit=s.unit,
                minimum=s.minimum,
                maximum=s.maximum,
                default=s.default,
                value=values.get(s.key, s.default),
                configured=s.key in values,
            )
            for s in configuration_service.settings_of(definition)
        ],
        reason=row.reason if row is not None else None,
        changed_by=row.created_by if row is not None else None,
        changed_at=row.created_at if row is not None else None,
    )


@router.get(
    PATH,
    response_model=ConfigurationRead,
    summary="The partnership's choices among the workflow's configurable rules",
    responses={
        **documented_headers(200, "ETag"),
        **error_responses(PartnershipNotFound, NotYourPartnership, WorkflowNotFound),
    },
)
def read_configuration(
    code: Code, workflow: Workflow, session: SessionDep, actor: ActorDep
) -> JSONResponse:
    partnership = _partnership(session, actor, code)
    definition = _definition(workflow)
    row = repository.current(session, partnership.id, definition.name)
    shown = _read(partnership, definition, row)
    return JSONResponse(shown.model_dump(mode="json"), headers={"ETag": etag(shown.version)})


@router.put(
    PATH,
    response_model=ConfigurationRead,
    summary="Set the partnership's choices (a new version; cases opened from now count by it)",
    responses={
        **documented_headers(200, "ETag"),
        **error_responses(
            MalformedBody,
            PartnershipNotFound,
            NotYourPartnership,
            NotAnAdministrator,
            WorkflowNotFound,
            ConfigurationChanged,
            ConcurrentUpdate,
            PayloadTooLarge,
        ),
    },
)
def update_configuration(
    code: Code,
    workflow: Workflow,
    body: ConfigurationUpdate,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    partnership = _partnership(session, actor, code)
    if not actor.is_platform_admin and Role.admin not in actor.roles:
        raise NotAnAdministrator("Only the partnership's administrator changes its rules.")
    definition = _definition(workflow)
    expected = parse_if_match(if_match)
    current = repository.current(session, partnership.id, definition.name)
    if expected is not None and (current.version if current else 0) not in expected:
        raise ConfigurationChanged(
            "Someone changed the configuration first; read it again and resend."
        )
    row = configuration_service.configure(
        session,
        partnership_id=partnership.id,
        definition=definition,
        values=body.values,
        reason=body.reason,
        actor=actor,
        now=clock.now(),
    )
    shown = _read(partnership, definition, row)
    try:
        session.commit()
    except IntegrityError as exc:
        # Another change took the same version number first.
        session.rollback()
        raise ConcurrentUpdate(
            "Someone changed the configuration at the same moment; read it again and resend."
        ) from exc
    return JSONResponse(shown.model_dump(mode="json"), headers={"ETag": etag(shown.version)})


@router.get(
    f"{PATH}/versions",
    response_model=ConfigurationVersionList,
    summary="Every version of the partnership's configuration, newest first",
    responses=error_responses(PartnershipNotFound, NotYourPartnership, WorkflowNotFound),
)
def list_configuration_versions(
    code: Code,
    workflow: Workflow,
    session: SessionDep,
    actor: ActorDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> ConfigurationVersionList:
    partnership = _partnership(session, actor, code)
    definition = _definition(workflow)
    before = None
    if cursor:
        (before,) = decode_cursor(cursor, 1)
        if not isinstance(before, int) or not 0 < before < 2**31:
            raise InvalidQuery("The cursor is not one this service issued.")
    rows = repository.versions_page(
        session, partnership.id, definition.name, before=before, limit=limit + 1
    )
    page = rows[:limit]
    return ConfigurationVersionList(
        items=[
            ConfigurationVersionRead(
                version=r.version,
                values=r.values,
                reason=r.reason,
                changed_by=r.created_by,
                changed_at=r.created_at,
            )
            for r in page
        ],
        next_cursor=encode_cursor([page[-1].version]) if len(rows) > limit else None,
    )
