"""Web pages for a case's documents: the list with download links, the upload form (a
multipart form, read by documents.upload like the API's, never by `posted_form`), and a
withdraw form per document. Every rule is the documents service's."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import ValidationError
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from cspr_engine.accounts.dependencies import SettingsDep
from cspr_engine.accounts.models import User
from cspr_engine.cases.models import Case
from cspr_engine.config import Settings
from cspr_engine.db import SessionDep
from cspr_engine.documents import repository as document_repository
from cspr_engine.documents import service as document_service
from cspr_engine.documents import sniff
from cspr_engine.documents.exceptions import (
    DocumentTooLarge,
    DocumentTypeRefused,
    MalformedUpload,
    MultipartRequired,
    UploadForbidden,
)
from cspr_engine.documents.models import Document
from cspr_engine.documents.router import attach, content_response
from cspr_engine.documents.schemas import DocumentWithdraw
from cspr_engine.documents.service import UploadRight
from cspr_engine.documents.storage import describe_size
from cspr_engine.documents.upload import FILE_FIELD, Upload, receive
from cspr_engine.errors import CsprError, FieldError, InvalidData, pydantic_errors
from cspr_engine.kit.clock import ClockDep
from cspr_engine.web.auth import CSRF_FIELD, LoggedWebUserDep, WebUser, check_csrf
from cspr_engine.web.forms import Field, Form
from cspr_engine.web.router import _case_or_404, flash, posted_form, render, see_other
from cspr_engine.workflow import service as workflow_service

router = APIRouter(prefix="/ui/cases", include_in_schema=False)

CaseKey = Annotated[str, Path(max_length=64)]
DocumentKey = Annotated[str, Path(max_length=64)]
PAGE_LIMIT = 500

KIND_LABELS: dict[str, str] = {
    "rapid_review_report": "Rapid review report",
    "terms_of_reference": "Terms of reference",
    "final_report": "Final report",
    "information_return": "Information return",
    "panel_correspondence": "Correspondence with the Panel",
    "other": "Other",
}
FILE_MESSAGES = {
    "missing": "Select a file",
    "empty": "The selected file is empty",
    "one_file": "Select one file",
}


@dataclass
class Row:
    """One document as the table shows it."""

    document: Document
    kind_label: str
    type_label: str
    size_label: str
    uploaded_by: str
    withdraw: Form | None  # the withdraw form, for those who may withdraw it
    withdraw_open: bool = False


def upload_form(right: UploadRight) -> Form:
    kinds = [k for k in KIND_LABELS if right.kinds is None or k in right.kinds]
    return Form(
        [
            Field(name=FILE_FIELD, id="upload-file", label="Upload a file", kind="input"),
            Field(
                name="kind",
                id="upload-kind",
                label="What kind of document is it?",
                kind="radios",
                required=True,
                options=tuple((k, KIND_LABELS[k]) for k in kinds),
                value=kinds[0] if len(kinds) == 1 else None,
                noun="the kind of document",
            ),
            Field(
                name="title",
                id="upload-title",
                label="Title",
                kind="input",
                required=True,
                hint="For example, Rapid review report (final). Do not include a child's name.",
                max_length=200,
                noun="a title",
            ),
        ]
    )


def withdraw_form(document: Document) -> Form:
    return Form(
        [
            Field(
                name="reason",
                id=f"withdraw-{document.id}-reason",
                label="Why is it withdrawn?",
                kind="textarea",
                required=True,
                hint="The document stays listed as withdrawn and can no longer be downloaded.",
                noun="the reason",
            )
        ]
    )


def _names(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = session.exec(select(User.id, User.display_name).where(col(User.id).in_(wanted)))
    return dict(rows.all())


def _rows(session: Session, case: Case, may_withdraw: bool) -> list[Row]:
    documents = document_repository.for_case(session, case.id, limit=PAGE_LIMIT)
    names = _names(session, (d.uploaded_by for d in documents))
    return [
        Row(
            document=d,
            kind_label=KIND_LABELS.get(d.kind, d.kind),
            type_label=(k.label if (k := sniff.BY_MEDIA_TYPE.get(d.media_type)) else d.media_type),
            size_label=describe_size(d.size),
            uploaded_by=names.get(d.uploaded_by, "Unknown"),
            withdraw=withdraw_form(d) if may_withdraw and d.withdrawn_at is None else None,
        )
        for d in documents
    ]


def _page(
    request: Request,
    session: Session,
    case: Case,
    user: WebUser,
    settings: Settings,
    *,
    form: Form | None = None,
    problem: str | None = None,
    withdrawn: tuple[uuid.UUID, Form] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    right = document_service.upload_right(session, case=case, actor=user.actor)
    may_withdraw = document_service.may_withdraw(user.actor, case)
    rows = _rows(session, case, may_withdraw)
    errors: list[tuple[str, str]] = []
    if withdrawn is not None:
        for row in rows:
            if row.document.id == withdrawn[0]:
                row.withdraw, row.withdraw_open = withdrawn[1], True
        errors += withdrawn[1].errors
    if form is None and right is not None:
        form = upload_form(right)
    if form is not None:
        errors = form.errors + errors
    definition = workflow_service.definition_for(case)
    return render(
        request,
        "casework/documents.html",
        {
            "case": case,
            "state_label": definition.states[case.state].label,
            "rows": rows,
            "cut": len(rows) >= PAGE_LIMIT,
            "form": form if right is not None else None,
            "fields": form.by_name() if form is not None else {},
            "errors": errors,
            "problem": problem,
            "done": flash(request),
            "max_size": describe_size(settings.max_document_bytes),
            "allowed": sniff.ALLOWED_LABELS,
        },
        user=user,
        status_code=status_code,
    )


@router.get("/{key}/documents", name="ui_case_documents")
def documents_page(
    request: Request,
    key: CaseKey,
    session: SessionDep,
    user: LoggedWebUserDep,
    settings: SettingsDep,
) -> HTMLResponse:
    case = _case_or_404(request, session, user, key)
    return _page(request, session, case, user, settings)


@router.post("/{key}/documents", name="ui_case_documents_upload")
async def upload_document(
    request: Request,
    key: CaseKey,
    session: SessionDep,
    user: LoggedWebUserDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> Response:
    case = _case_or_404(request, session, user, key)
    right = document_service.upload_right(session, case=case, actor=user.actor)
    if right is None:
        raise UploadForbidden("You cannot attach documents to this case.")
    session.rollback()  # no transaction (nor SQLite's write lock) held while the body arrives
    store = document_service.store_for(settings)
    form = upload_form(right)
    problem, status_code = None, 422
    upload: Upload | None = None
    try:
        upload = await receive(request, store, max_bytes=settings.max_document_bytes)
    except DocumentTooLarge:
        form.add_error(FILE_FIELD, f"The selected file must be smaller than {_limit(settings)}")
        status_code = 413
    except InvalidData as exc:
        _add_errors(form, exc.errors)
    except (MalformedUpload, MultipartRequired) as exc:
        problem, status_code = exc.detail or exc.title, exc.status
    if upload is not None:
        try:
            check_csrf(user, upload.fields.pop(CSRF_FIELD, None))
        except CsprError:
            upload.discard()
            raise
        form.with_values(FormData(list(upload.fields.items())))
        # As every form here: a field left empty is not sent (its error is "Enter ...").
        upload.fields = {k: v for k, v in upload.fields.items() if v.strip()}
        received = upload
        try:
            await run_in_threadpool(
                lambda: attach(
                    session=session,
                    case=case,
                    actor=user.actor,
                    upload=received,
                    store=store,
                    now=clock.now(),
                    expected_version=None,
                )
            )
            return see_other(
                f"/ui/cases/{case.reference}/documents?" + urlencode({"done": "Document attached"})
            )
        except InvalidData as exc:
            _add_errors(form, exc.errors)
        except DocumentTypeRefused as exc:
            seen = exc.extensions.get("detected", "not an accepted kind of file")
            form.add_error(
                FILE_FIELD,
                f"The selected file must be a {_or_list(sniff.ALLOWED_LABELS)}: it is {seen}",
            )
            status_code = exc.status
        except UploadForbidden as exc:
            form.add_error("kind", exc.detail or exc.title)
            status_code = exc.status
        except CsprError as exc:
            problem, status_code = exc.detail or exc.title, exc.status
    fresh = _case_or_404(request, session, user, key)
    return _page(
        request, session, fresh, user, settings, form=form, problem=problem, status_code=status_code
    )


def _limit(settings: Settings) -> str:
    return describe_size(settings.max_document_bytes)


def _or_list(labels: Iterable[str]) -> str:
    items = list(labels)
    return ", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1 else "".join(items)


def _add_errors(form: Form, errors: list[FieldError]) -> None:
    """The API's field errors beside the form's fields, in the form's order; the file's in
    GOV.UK's words."""
    order = {f.name: n for n, f in enumerate(form.fields)}
    for err in sorted(errors, key=lambda e: order.get(e.loc, len(order))):
        if err.loc == FILE_FIELD:
            form.add_error(FILE_FIELD, FILE_MESSAGES.get(err.type, f"The file: {err.message}"))
        else:
            form.add_api_errors([err])


@router.get("/{key}/documents/{document_id}/download", name="ui_case_document_download")
def download_document(
    request: Request,
    key: CaseKey,
    document_id: DocumentKey,
    session: SessionDep,
    user: LoggedWebUserDep,
    settings: SettingsDep,
) -> StreamingResponse:
    case = _case_or_404(request, session, user, key)
    document = document_service.get(session, case=case, key=document_id)
    session.rollback()
    return content_response(document_service.store_for(settings), document)


@router.post("/{key}/documents/{document_id}/withdraw", name="ui_case_document_withdraw")
async def withdraw_document(
    request: Request,
    key: CaseKey,
    document_id: DocumentKey,
    session: SessionDep,
    user: LoggedWebUserDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> Response:
    case = _case_or_404(request, session, user, key)
    posted = await posted_form(request, user)
    document = document_service.get(session, case=case, key=document_id)
    form = withdraw_form(document)
    form.with_values(posted)
    reason = str(posted.get("reason") or "").strip()
    problem, status_code = None, 422
    try:
        body = DocumentWithdraw.model_validate({"reason": reason} if reason else {})
    except ValidationError as exc:
        form.add_api_errors(pydantic_errors(exc.errors()))
    else:
        try:
            document_service.withdraw(
                session=session,
                case=case,
                document=document,
                actor=user.actor,
                reason=body.reason,
                now=clock.now(),
                expected_version=None,
            )
            session.commit()
            return see_other(
                f"/ui/cases/{case.reference}/documents?" + urlencode({"done": "Document withdrawn"})
            )
        except InvalidData as exc:
            session.rollback()
            form.add_api_errors(exc.errors)
        except CsprError as exc:
            session.rollback()
            problem, status_code = exc.detail or exc.title, exc.status
    session.expire_all()
    fresh = _case_or_404(request, session, user, key)
    return _page(
        request,
        session,
        fresh,
        user,
        settings,
        problem=problem,
        withdrawn=(document.id, form) if problem is None else None,
        status_code=status_code,
    )
