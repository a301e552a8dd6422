"""HTTP for a case's exports: the rapid review submission pack (Markdown or Word, by `Accept` or
`?format=`) and the full record as JSON. Both are reads: the access log records them (CaseDep),
as `case.submission_pack` and `case.export`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, Response

from cspr_engine.accounts.dependencies import ActorDep
from cspr_engine.cases.dependencies import CaseDep
from cspr_engine.cases.exceptions import CaseNotFound
from cspr_engine.db import SessionDep
from cspr_engine.errors import error_responses
from cspr_engine.exports import service as export_service
from cspr_engine.exports.exceptions import ExportForbidden, NoSubmissionPack, NotAcceptable
from cspr_engine.exports.schemas import MEDIA_TYPES, CaseRecord, PackFormat
from cspr_engine.kit.clock import ClockDep

router = APIRouter(tags=["exports"])

# Offered in this order of preference: a caller that accepts both equally gets Markdown.
OFFERED = (PackFormat.md, PackFormat.docx)
MAX_ACCEPT_RANGES = 50


def _ranges(accept: str) -> list[tuple[str, str, float]]:
    """The media ranges of an `Accept` header: (type, subtype, q), malformed ones left out."""
    found = []
    for item in accept.split(",")[:MAX_ACCEPT_RANGES]:
        media, *params = (p.strip() for p in item.split(";"))
        kind, _, subtype = media.lower().partition("/")
        if not kind or not subtype:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        found.append((kind, subtype, q))
    return found


def _quality(media_type: str, ranges: list[tuple[str, str, float]]) -> float:
    """The quality `ranges` give `media_type`: that of the most specific range matching it
    (`type/subtype` over `type/*` over `*/*`, RFC 9110 §12.5.1); 0 if none does."""
    kind, _, subtype = media_type.partition("/")
    specific = {(kind, subtype): 3, (kind, "*"): 2, ("*", "*"): 1}
    matching = [(specific[(k, s)], q) for k, s, q in ranges if (k, s) in specific]
    return max(matching)[1] if matching else 0.0


def negotiate(accept: str | None) -> PackFormat:
    """The format `Accept` prefers (the first offered of the highest quality); Markdown if it
    says nothing. NotAcceptable if it accepts neither."""
    if not accept or not accept.strip():
        return PackFormat.md
    ranges = _ranges(accept)
    quality = {fmt: _quality(MEDIA_TYPES[fmt], ranges) for fmt in OFFERED}
    best = max(OFFERED, key=lambda fmt: quality[fmt])  # the first of the best, on a tie
    if quality[best] <= 0:
        raise NotAcceptable(
            "The submission pack comes as "
            + " or ".join(MEDIA_TYPES[f] for f in OFFERED)
            + " (or choose with ?format=md or ?format=docx).",
            available=[MEDIA_TYPES[f] for f in OFFERED],
        )
    return best


PACK_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The pack, as an attachment named `<reference>-rapid-review-pack.md` "
        "(or `.docx`).",
        "content": {
            MEDIA_TYPES[PackFormat.md]: {"schema": {"type": "string"}},
            MEDIA_TYPES[PackFormat.docx]: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.get(
    "/cases/{case_id}/submission-pack",
    name="submission_pack",
    response_class=Response,
    summary="The rapid review submission pack of the case, as Markdown or Word",
    description="The sections the Panel's rapid review template asks for, from the case's "
    "record at its present stage; a section with nothing recorded says so. Markdown unless "
    "`Accept` (or `?format=`) asks for Word. For anyone who reads the case.",
    responses={**PACK_CONTENT, **error_responses(CaseNotFound, NotAcceptable, NoSubmissionPack)},
)
def submission_pack(
    case: CaseDep,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    fmt: Annotated[
        PackFormat | None,
        Query(
            alias="format",
            description="md or docx; chosen over the Accept header (e.g. for a link).",
        ),
    ] = None,
    accept: Annotated[
        str | None,
        Header(
            max_length=2_000,
            description="text/markdown (the default) or "
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document.",
        ),
    ] = None,
) -> Response:
    chosen = fmt or negotiate(accept)
    built = export_service.pack_of(session, case=case, actor=actor, now=clock.now())
    return Response(
        export_service.render_pack(built, chosen),
        media_type=export_service.media_type(chosen),
        headers={
            "Content-Disposition": export_service.attachment(
                export_service.pack_filename(case, chosen)
            ),
            "Vary": "Accept",
        },
    )


@router.get(
    "/cases/{case_id}/export",
    name="export",
    response_model=CaseRecord,
    summary="The case's full record as JSON (for a Panel request or a subject access request)",
    description="The case, its whole audit timeline, clocks, approvals, information requests, "
    "improvement actions with their histories, links, shares and documents' records (not "
    "their bytes), as the individual endpoints show them to you; the access log too for the "
    "panel chair and the scrutineer. For the panel chair, the business unit and the scrutineer "
    "of the case's own partnership. Sent as an attachment, `<reference>-record.json`.",
    responses=error_responses(CaseNotFound, ExportForbidden),
)
def export(case: CaseDep, session: SessionDep, actor: ActorDep, clock: ClockDep) -> JSONResponse:
    record = export_service.record_of(session, case=case, actor=actor, now=clock.now())
    return JSONResponse(
        record.model_dump(mode="json"),
        headers={
            "Content-Disposition": export_service.attachment(export_service.record_filename(case))
        },
    )
