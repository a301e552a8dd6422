"""Rules for documents: who may attach and withdraw them, what may be attached (judged by
content), and the check that the bytes served are the bytes received.

Decisions the issue leaves open, taken here:

- The audit (the case's timeline) records a document's id, kind, title, size, SHA-256 and
  media type, but not the uploaded file's name: a file name is chosen in haste and often
  carries a person's name ("J Smith IMR.pdf"), and the audit is append-only, so nothing in it
  can be corrected later. The title is written for the record, on a form that asks for no
  names. The name is kept on the document row only, to serve the file under it.
- Withdrawing keeps the file and the row (the audit's SHA-256 stays verifiable, and a
  mistaken withdrawal can be undone by an operator) but stops serving the bytes (410).
- An agency asked for an information return may attach that return (kind
  `information_return`) while its request is open; nothing else.
"""

from __future__ import annotations

import hashlib
import logging
import os
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from pydantic import ValidationError
from sqlmodel import Session

from cspr_engine.access.policy import Casework, may_casework
from cspr_engine.accounts.schemas import Actor
from cspr_engine.audit import service as audit_service
from cspr_engine.cases import repository as case_repository
from cspr_engine.cases.models import Case
from cspr_engine.config import Settings
from cspr_engine.documents import repository, sniff
from cspr_engine.documents.exceptions import (
    DocumentAlreadyWithdrawn,
    DocumentIntegrityFailed,
    DocumentNotFound,
    DocumentTypeRefused,
    DocumentWithdrawn,
    UploadForbidden,
    WithdrawForbidden,
)
from cspr_engine.documents.models import Document
from cspr_engine.documents.schemas import DocumentRead, DocumentUpload
from cspr_engine.documents.storage import DocumentStore
from cspr_engine.documents.upload import FILE_FIELD, Upload
from cspr_engine.errors import FieldError, InvalidData, pydantic_errors

log = logging.getLogger(__name__)

RETURN_KIND = "information_return"
MAX_FILENAME = 200
READ_CHUNK = 64 * 1024
# Characters Windows refuses in a file name (the name a download is saved under).
_UNSAFE_IN_NAMES = str.maketrans(dict.fromkeys('<>:"/\\|?*', "_"))


def store_for(settings: Settings) -> DocumentStore:
    return DocumentStore(settings.documents_dir)


@dataclass(frozen=True)
class UploadRight:
    """What an actor may attach to a case: any kind, or only its agency's information return."""

    kinds: frozenset[str] | None  # None: every kind


def upload_right(session: Session, *, case: Case, actor: Actor) -> UploadRight | None:
    """Whether `actor` may attach documents to `case` (None: not at all). The case's own
    partnership only (a shared case is read-only: cases.dependencies); the roles in
    `Casework.upload_document`, or an agency while its information request is open."""
    if actor.partnership_id != case.partnership_id:
        return None
    if may_casework(actor, Casework.upload_document):
        return UploadRight(kinds=None)
    if (
        may_casework(actor, Casework.answer_information)
        and actor.agency is not None
        and repository.has_open_request(
            session, case_id=case.id, partnership_id=case.partnership_id, agency=actor.agency
        )
    ):
        return UploadRight(kinds=frozenset({RETURN_KIND}))
    return None


def check_upload(session: Session, *, case: Case, actor: Actor) -> UploadRight:
    """`upload_right`, or UploadForbidden: checked before the body is read."""
    right = upload_right(session, case=case, actor=actor)
    if right is None:
        raise UploadForbidden(
            "Documents are attached by the panel chair, the business unit and the quality "
            "group, or by an agency while its information request on the case is open."
        )
    return right


def may_withdraw(actor: Actor, case: Case) -> bool:
    return actor.partnership_id == case.partnership_id and may_casework(
        actor, Casework.withdraw_document
    )


def get(session: Session, *, case: Case, key: str) -> Document:
    document = repository.get_for_case(session, case.id, key)
    if document is None:
        raise DocumentNotFound("The case has no document with that id.")
    return document


def read_fields(upload: Upload) -> DocumentUpload:
    """The upload's text fields and its file, checked together (every fault at once)."""
    errors: list[FieldError] = []
    payload: DocumentUpload | None = None
    try:
        payload = DocumentUpload.model_validate(upload.fields)
    except ValidationError as exc:
        errors += pydantic_errors(exc.errors())
    if upload.file is None or (upload.file.size == 0 and not upload.filename):
        errors.append(FieldError(loc=FILE_FIELD, message="select a file", type="missing"))
    elif upload.file.size == 0:
        errors.append(
            FieldError(loc=FILE_FIELD, message="the selected file is empty", type="empty")
        )
    if errors or payload is None:
        raise InvalidData(errors)
    return payload


def add(
    *,
    session: Session,
    case: Case,
    actor: Actor,
    upload: Upload,
    store: DocumentStore,
    now: datetime,
    expected_version: frozenset[int] | None,
) -> Document:
    """Attach the received file to `case`: checked (fields, content), kept under a new storage
    key, recorded and audited. The caller commits; if anything fails once the file is kept
    (`upload.file.kept_as`), the caller removes it, so no file outlives a refused upload."""
    right = check_upload(session, case=case, actor=actor)
    payload = read_fields(upload)
    pending = upload.file
    assert pending is not None  # read_fields refuses an upload without one
    if right.kinds is not None and payload.kind not in right.kinds:
        raise UploadForbidden(
            "Your agency may attach only its information return to this case.",
            allowed_kinds=sorted(right.kinds),
        )
    detection = sniff.detect(pending.path)
    if detection.kind is None:
        raise DocumentTypeRefused(
            f"The file is {detection.seen}. Accepted: {', '.join(sniff.ALLOWED_LABELS)}.",
            detected=detection.seen,
            allowed=list(sniff.ALLOWED_LABELS),
        )
    case_repository.claim_next_version(session, case, expected_version)
    case.updated_at = now
    key = store.keep(pending)
    document = Document(
        id=uuid.uuid4(),
        case_id=case.id,
        partnership_id=case.partnership_id,
        kind=payload.kind,
        title=payload.title,
        filename=clean_filename(upload.filename, detection.kind),
        media_type=detection.kind.media_type,
        size=pending.size,
        sha256=pending.sha256,
        storage_key=key,
        uploaded_by=actor.user_id,
        uploaded_at=now,
    )
    session.add(document)
    audit_service.record(
        session=session,
        case=case,
        actor=actor,
        kind="document.added",
        now=now,
        from_state=case.state,
        to_state=case.state,
        data=_audit_data(document) | {"size": document.size, "media_type": document.media_type},
    )
    return document


def withdraw(
    *,
    session: Session,
    case: Case,
    document: Document,
    actor: Actor,
    reason: str,
    now: datetime,
    expected_version: frozenset[int] | None,
) -> Document:
    """Mark `document` withdrawn, with the reason in the audit; its file is kept, unserved."""
    if not may_withdraw(actor, case):
        raise WithdrawForbidden("Documents are withdrawn by the panel chair or the business unit.")
    case_repository.check_precondition(case, expected_version)
    if document.withdrawn_at is not None:
        raise DocumentAlreadyWithdrawn(
            "The document was withdrawn already.", document_id=str(document.id)
        )
    case_repository.claim_next_version(session, case, expected_version)
    case.updated_at = now
    document.withdrawn_at = now
    document.withdrawn_by = actor.user_id
    session.add(document)
    audit_service.record(
        session=session,
        case=case,
        actor=actor,
        kind="document.withdrawn",
        now=now,
        from_state=case.state,
        to_state=case.state,
        data=_audit_data(document),
        comment=reason,
    )
    return document


def _audit_data(document: Document) -> dict[str, object]:
    # Never the file name (see the module docstring).
    return {
        "document": str(document.id),
        "kind": document.kind,
        "title": document.title,
        "sha256": document.sha256,
    }


def open_verified(store: DocumentStore, document: Document) -> BinaryIO:
    """The stored bytes, open at the start, once their size and SHA-256 match the record.
    The same open file is then served, so a file swapped after the check is not what is sent."""
    if document.withdrawn_at is not None:
        raise DocumentWithdrawn(
            "The document was withdrawn and is no longer served.", document_id=str(document.id)
        )
    try:
        file = store.open(document.storage_key)
    except (OSError, ValueError):
        raise _integrity_failed(document, "missing") from None
    try:
        digest = hashlib.sha256()
        size = 0
        while chunk := file.read(READ_CHUNK):
            digest.update(chunk)
            size += len(chunk)
        if size != document.size or digest.hexdigest() != document.sha256:
            raise _integrity_failed(document, "altered")
        file.seek(0)
    except BaseException:
        file.close()
        raise
    return file


def _integrity_failed(document: Document, what: str) -> DocumentIntegrityFailed:
    log.error("document %s failed its integrity check (%s)", document.id, what)
    return DocumentIntegrityFailed(
        "The stored copy of this document does not match what was uploaded, so it is not "
        "served. The service's operators have been told; quote the request id.",
        document_id=str(document.id),
    )


def present(document: Document) -> DocumentRead:
    return DocumentRead(
        id=document.id,
        case_id=document.case_id,
        kind=document.kind,
        title=document.title,
        filename=document.filename,
        media_type=document.media_type,
        size=document.size,
        sha256=document.sha256,
        uploaded_by=document.uploaded_by,
        uploaded_at=document.uploaded_at,
        withdrawn=document.withdrawn_at is not None,
        withdrawn_by=document.withdrawn_by,
        withdrawn_at=document.withdrawn_at,
        content_url=f"/api/v1/cases/{document.case_id}/documents/{document.id}/content",
    )


def clean_filename(raw: str, kind: sniff.Kind) -> str:
    """The name a document is served under: the uploaded name without any folder, control or
    invisible formatting characters (a right-to-left override could disguise `exe.pdf`) or
    characters Windows refuses; at most 200 characters; ending in an extension of its content
    (`notes.exe` holding text is served as `notes.exe.txt`)."""
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = " ".join(name.split())  # tabs, new lines, no-break spaces: one plain space
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = " ".join(name.translate(_UNSAFE_IN_NAMES).split()).strip(" .")
    stem, ext = os.path.splitext(name)
    if ext.lower() not in kind.extensions:
        stem, ext = name, kind.extensions[0]
    stem = stem or "document"
    return stem[: MAX_FILENAME - len(ext)].rstrip(" .") + ext.lower()
