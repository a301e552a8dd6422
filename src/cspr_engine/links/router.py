"""HTTP for linked cases and for shares of a case with another partnership."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import JSONResponse

from cspr_engine.access.dependencies import LoggedActorDep
from cspr_engine.accounts.dependencies import ActorDep
from cspr_engine.cases.dependencies import CaseDep
from cspr_engine.cases.exceptions import (
    CaseNotFound,
    ConcurrentUpdate,
    SharedCaseReadOnly,
    StaleVersion,
)
from cspr_engine.db import SessionDep
from cspr_engine.errors import MalformedBody, error_responses
from cspr_engine.kit.clock import ClockDep
from cspr_engine.kit.http import IfMatch, documented_headers, etag, parse_if_match
from cspr_engine.kit.pagination import CursorQuery, LimitQuery, decode_keyset, encode_keyset
from cspr_engine.links import repository
from cspr_engine.links import service as link_service
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
from cspr_engine.links.schemas import (
    LinkCreate,
    LinkList,
    LinkRead,
    ShareCreate,
    ShareList,
    ShareRead,
    ShareRevoke,
)

router = APIRouter(tags=["links"])

LinkId = Annotated[uuid.UUID, Path(description="The link's id.")]
ShareId = Annotated[uuid.UUID, Path(description="The share's id.")]


@router.get(
    "/cases/{case_id}/links",
    response_model=LinkList,
    summary="The case's linked cases, both those added on it and those added on another to it",
    responses=error_responses(CaseNotFound),
)
def list_links(
    case: CaseDep,
    session: SessionDep,
    actor: ActorDep,
    include_removed: Annotated[
        bool, Query(description="Also the links that were removed (with when and by whom).")
    ] = False,
) -> LinkList:
    return LinkList(
        items=link_service.links_for(session, case, actor, include_removed=include_removed),
        next_cursor=None,
    )


@router.post(
    "/cases/{case_id}/links",
    response_model=LinkRead,
    status_code=status.HTTP_201_CREATED,
    summary="Link the case to another (sibling, same incident, child death review, another "
    "partnership's case)",
    responses={
        **documented_headers(201, "ETag", "Location"),
        **error_responses(
            MalformedBody,
            CaseNotFound,
            LinkTargetNotFound,
            LinkForbidden,
            SharedCaseReadOnly,
            DuplicateLink,
            StaleVersion,
            ConcurrentUpdate,
        ),
    },
)
def add_link(
    body: LinkCreate,
    case: CaseDep,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    link = link_service.add_link(
        session,
        case=case,
        payload=body,
        actor=actor,
        now=clock.now(),
        expected_version=parse_if_match(if_match),
    )
    (shown,) = link_service.present_links(session, case, actor, [link])
    payload = shown.model_dump(mode="json")
    session.commit()
    return JSONResponse(
        payload,
        status_code=status.HTTP_201_CREATED,
        headers={
            "ETag": etag(case.version),
            "Location": f"/api/v1/cases/{case.id}/links/{link.id}",
        },
    )


@router.delete(
    "/cases/{case_id}/links/{link_id}",
    response_model=LinkRead,
    summary="Remove a link (it stays in both cases' timelines, marked removed)",
    responses={
        **documented_headers(200, "ETag"),
        **error_responses(
            CaseNotFound,
            LinkNotFound,
            LinkForbidden,
            SharedCaseReadOnly,
            LinkAlreadyRemoved,
            StaleVersion,
            ConcurrentUpdate,
        ),
    },
)
def remove_link(
    link_id: LinkId,
    case: CaseDep,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    link = link_service.remove_link(
        session,
        case=case,
        link_id=link_id,
        actor=actor,
        now=clock.now(),
        expected_version=parse_if_match(if_match),
    )
    (shown,) = link_service.present_links(session, case, actor, [link])
    payload = shown.model_dump(mode="json")
    session.commit()
    return JSONResponse(payload, headers={"ETag": etag(case.version)})


# -- shares -----------------------------------------------------------------------------------


@router.get(
    "/cases/{case_id}/shares",
    response_model=ShareList,
    summary="Who the case is shared with, read-only (a grantee sees its own share only)",
    responses=error_responses(CaseNotFound),
)
def list_shares(case: CaseDep, session: SessionDep, actor: ActorDep) -> ShareList:
    shares = link_service.shares_for(session, case, actor)
    shown = link_service.present_shares(session, shares, {case.id: case})
    return ShareList(items=shown, next_cursor=None)


@router.post(
    "/cases/{case_id}/shares",
    response_model=ShareRead,
    status_code=status.HTTP_201_CREATED,
    summary="Share the case, read-only, with another partnership (e.g. the child's home authority)",
    responses={
        **documented_headers(201, "ETag", "Location"),
        **error_responses(
            MalformedBody,
            CaseNotFound,
            ShareForbidden,
            SharedCaseReadOnly,
            DuplicateShare,
            StaleVersion,
            ConcurrentUpdate,
        ),
    },
)
def grant_share(
    body: ShareCreate,
    case: CaseDep,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    share = link_service.grant_share(
        session,
        case=case,
        payload=body,
        actor=actor,
        now=clock.now(),
        expected_version=parse_if_match(if_match),
    )
    (shown,) = link_service.present_shares(session, [share], {case.id: case})
    payload = shown.model_dump(mode="json")
    session.commit()
    return JSONResponse(
        payload,
        status_code=status.HTTP_201_CREATED,
        headers={
            "ETag": etag(case.version),
            "Location": f"/api/v1/cases/{case.id}/shares/{share.id}",
        },
    )


@router.post(
    "/cases/{case_id}/shares/{share_id}/revoke",
    response_model=ShareRead,
    summary="Revoke a share: the partnership no longer reads the case",
    responses={
        **documented_headers(200, "ETag"),
        **error_responses(
            MalformedBody,
            CaseNotFound,
            ShareNotFound,
            ShareForbidden,
            SharedCaseReadOnly,
            ShareAlreadyRevoked,
            StaleVersion,
            ConcurrentUpdate,
        ),
    },
)
def revoke_share(
    share_id: ShareId,
    body: ShareRevoke,
    case: CaseDep,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    share = link_service.revoke_share(
        session,
        case=case,
        share_id=share_id,
        reason=body.reason,
        actor=actor,
        now=clock.now(),
        expected_version=parse_if_match(if_match),
    )
    (shown,) = link_service.present_shares(session, [share], {case.id: case})
    payload = shown.model_dump(mode="json")
    session.commit()
    return JSONResponse(payload, headers={"ETag": etag(case.version)})


@router.get(
    "/shares/incoming",
    response_model=ShareList,
    summary="Cases other partnerships share with yours, newest first",
    responses=error_responses(),
)
def list_incoming_shares(
    session: SessionDep, actor: LoggedActorDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> ShareList:
    rows = repository.incoming_shares(session, actor, limit=limit + 1, after=decode_keyset(cursor))
    page = rows[:limit]
    next_cursor = encode_keyset(page[-1].granted_at, page[-1].id) if len(rows) > limit else None
    return ShareList(items=link_service.present_shares(session, page), next_cursor=next_cursor)
