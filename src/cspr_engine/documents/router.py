"""HTTP for documents: attach (multipart/form-data), list, read, download, withdraw."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, BinaryIO, get_args
from urllib.parse import quote

from fastapi import APIRouter, Path, Request, status
from fastapi.responses import JSONResponse, StreamingResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from cspr_engine.accounts.dependencies import ActorDep, SettingsDep
from cspr_engine.accounts.schemas import Actor
from cspr_engine.cases import repository as case_repository
from cspr_engine.cases.dependencies import CaseDep
from cspr_engine.cases.exceptions import (
    CaseNotFound,
    ConcurrentUpdate,
    SharedCaseReadOnly,
    StaleVersion,
)
from cspr_engine.cases.models import Case
from cspr_engine.db import SessionDep
from cspr_engine.documents import repository as document_repository
from cspr_engine.documents import service as document_service
from cspr_engine.documents import sniff
from cspr_engine.documents.exceptions import (
    DocumentAlreadyWithdrawn,
    DocumentIntegrityFailed,
    DocumentNotFound,
    DocumentStoreUnavailable,
    DocumentTooLarge,
    DocumentTypeRefused,
    DocumentWithdrawn,
    MalformedUpload,
    MultipartRequired,
    UploadForbidden,
    WithdrawForbidden,
)
from cspr_engine.documents.models import Document
from cspr_engine.documents.schemas import (
    DocumentKind,
    DocumentList,
    DocumentRead,
    DocumentWithdraw,
)
from cspr_engine.documents.storage import DocumentStore
from cspr_engine.documents.upload import Upload, receive
from cspr_engine.errors import MalformedBody, error_responses
from cspr_engine.kit.clock import ClockDep
from cspr_engine.kit.http import IfMatch, documented_headers, etag, parse_if_match
from cspr_engine.kit.pagination import CursorQuery, LimitQuery, decode_keyset, encode_keyset

router = APIRouter(prefix="/cases", tags=["documents"])

# The bound is documented, not enforced as a 422: a longer key is no UUID, so names no
# document (a 404 like any other).
DocumentKey = Annotated[
    str, Path(description="The document's id (UUID).", json_schema_extra={"maxLength": 64})
]
STREAM_CHUNK = 64 * 1024

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "kind", "title"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "PDF, DOCX, XLSX, PPTX, ODT, PNG, JPEG or UTF-8 "
                            "text, judged by content; at most CSPR_MAX_DOCUMENT_BYTES.",
                        },
                        "kind": {
                            "type": "string",
                            "enum": list(get_args(DocumentKind)),
                            "examples": ["information_return"],
                        },
                        "title": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 200,
                            "examples": ["Police chronology of contact"],
                        },
                    },
                }
            }
        },
    }
}
CONTENT_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The bytes as uploaded (their SHA-256 checked first), served as an "
        "attachment with the media type detected at upload; `ETag` is the SHA-256 (hex) and "
        "`Repr-Digest` the same digest (RFC 9530).",
        # Served as the media type detected at upload: one of the allowed kinds.
        "content": {
            k.media_type: {"schema": {"type": "string", "format": "binary"}} for k in sniff.ALLOWED
        },
        "headers": {
            "ETag": {"description": "The SHA-256 (hex), quoted.", "schema": {"type": "string"}},
            "Repr-Digest": {
                "description": "The same digest, `sha-256=:<base64>:` (RFC 9530).",
                "schema": {"type": "string"},
            },
            "Content-Disposition": {
                "description": "An attachment, with the file's name.",
                "schema": {"type": "string"},
            },
        },
    }
}


def attach(
    *,
    session: Session,
    case: Case,
    actor: Actor,
    upload: Upload,
    store: DocumentStore,
    now: datetime,
    expected_version: frozenset[int] | None,
) -> tuple[DocumentRead, int]:
    """Add the received upload to the case and commit: the document and the case's new
    version. Whatever fails, no file is left behind (neither the temporary one nor, if the
    commit fails, the one kept under its storage key)."""
    try:
        document = document_service.add(
            session=session,
            case=case,
            actor=actor,
            upload=upload,
            store=store,
            now=now,
            expected_version=expected_version,
        )
        shown, version = document_service.present(document), case.version
        session.commit()
    except BaseException:
        session.rollback()
        if upload.file is not None and upload.file.kept_as is not None:
            store.remove(upload.file.kept_as)
        raise
    finally:
        upload.discard()
    return shown, version


def content_response(store: DocumentStore, document: Document) -> StreamingResponse:
    """The document's bytes, once they match the SHA-256 recorded at upload."""
    file = document_service.open_verified(store, document)
    media_type = document.media_type
    if media_type.startswith("text/"):
        media_type += "; charset=utf-8"
    digest = base64.b64encode(bytes.fromhex(document.sha256)).decode()
    headers = {
        "Content-Disposition": content_disposition(document.filename),
        "Content-Length": str(document.size),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "ETag": f'"{document.sha256}"',
        "Repr-Digest": f"sha-256=:{digest}:",
    }
    return StreamingResponse(_chunks(file), media_type=media_type, headers=headers)


def _chunks(file: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := file.read(STREAM_CHUNK):
            yield chunk
    finally:
        file.close()


def content_disposition(filename: str) -> str:
    """`attachment`, with the name for every browser: an ASCII stand-in and the UTF-8 name
    (RFC 6266, RFC 8187)."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\%' else "_" for c in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.post(
    "/{case_id}/documents",
    status_code=status.HTTP_201_CREATED,
    response_model=DocumentRead,
    summary="Attach a document to a case (multipart/form-data: file, kind, title)",
    openapi_extra=UPLOAD_BODY,
    responses={
        **documented_headers(201, "ETag", "Location"),
        **error_responses(
            MalformedUpload,
            UploadForbidden,
            SharedCaseReadOnly,
            CaseNotFound,
            ConcurrentUpdate,
            StaleVersion,
            DocumentTooLarge,
            DocumentTypeRefused,
            MultipartRequired,
            DocumentStoreUnavailable,
        ),
    },
)
async def upload_document(
    request: Request,
    case: CaseDep,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    settings: SettingsDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    expected = parse_if_match(if_match)
    # Refused before a byte of the body is read: who may attach, and a stale If-Match.
    case_repository.check_precondition(case, expected)
    document_service.check_upload(session, case=case, actor=actor)
    # No transaction stays open while the body arrives (on SQLite a writer's would hold the
    # database's write lock); the case is read afresh afterwards.
    session.rollback()
    store = document_service.store_for(settings)
    upload = await receive(request, store, max_bytes=settings.max_document_bytes)
    shown, version = await run_in_threadpool(
        lambda: attach(
            session=session,
            case=case,
            actor=actor,
            upload=upload,
            store=store,
            now=clock.now(),
            expected_version=expected,
        )
    )
    return JSONResponse(
        shown.model_dump(mode="json"),
        status_code=status.HTTP_201_CREATED,
        headers={
            "Location": f"/api/v1/cases/{case.id}/documents/{shown.id}",
            "ETag": etag(version),
        },
    )


@router.get(
    "/{case_id}/documents",
    response_model=DocumentList,
    summary="The case's documents, newest first (withdrawn ones marked)",
    responses=error_responses(CaseNotFound),
)
def list_documents(
    case: CaseDep, session: SessionDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> DocumentList:
    after = decode_keyset(cursor)
    rows = document_repository.for_case(session, case.id, limit=limit + 1, after=after)
    page = rows[:limit]
    return DocumentList(
        items=[document_service.present(d) for d in page],
        next_cursor=encode_keyset(page[-1].uploaded_at, page[-1].id) if len(rows) > limit else None,
    )


@router.get(
    "/{case_id}/documents/{document_id}",
    response_model=DocumentRead,
    summary="A document's record (not its bytes)",
    responses=error_responses(CaseNotFound, DocumentNotFound),
)
def read_document(case: CaseDep, document_id: DocumentKey, session: SessionDep) -> DocumentRead:
    return document_service.present(document_service.get(session, case=case, key=document_id))


@router.get(
    "/{case_id}/documents/{document_id}/content",
    response_class=StreamingResponse,
    summary="A document's bytes, checked against the SHA-256 recorded at upload",
    responses={
        **CONTENT_RESPONSE,
        **error_responses(
            CaseNotFound, DocumentNotFound, DocumentWithdrawn, DocumentIntegrityFailed
        ),
    },
)
def download_document(
    case: CaseDep, document_id: DocumentKey, session: SessionDep, settings: SettingsDep
) -> StreamingResponse:
    document = document_service.get(session, case=case, key=document_id)
    session.rollback()  # nothing more to read: no transaction stays open while bytes stream
    return content_response(document_service.store_for(settings), document)


@router.post(
    "/{case_id}/documents/{document_id}/withdraw",
    response_model=DocumentRead,
    summary="Withdraw a document: it stays listed, its bytes are kept but no longer served",
    responses={
        **documented_headers(200, "ETag"),
        **error_responses(
            MalformedBody,
            CaseNotFound,
            DocumentNotFound,
            SharedCaseReadOnly,
            WithdrawForbidden,
            DocumentAlreadyWithdrawn,
            StaleVersion,
            ConcurrentUpdate,
        ),
    },
)
def withdraw_document(
    document_id: DocumentKey,
    body: DocumentWithdraw,
    case: CaseDep,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    document = document_service.get(session, case=case, key=document_id)
    document_service.withdraw(
        session=session,
        case=case,
        document=document,
        actor=actor,
        reason=body.reason,
        now=clock.now(),
        expected_version=parse_if_match(if_match),
    )
    shown = document_service.present(document).model_dump(mode="json")
    session.commit()
    return JSONResponse(shown, headers={"ETag": etag(case.version)})
