"""Helpers for the document tests (API and pages): the store in a temporary directory, an
upload as a partner system sends it, and rows inserted straight into the database for the
parts of casework other packages own (information requests, shares)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session, col, select

from cspr_engine.config import get_settings
from cspr_engine.db import get_engine
from cspr_engine.information_requests.models import InformationRequest
from cspr_engine.links.models import CaseShare
from tests.conftest import NOW
from tests.factories import Api

# Above the 1 MiB limit on every other body, and small enough to keep the tests quick.
MAX_DOCUMENT = 1_572_864


def use_documents_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """CSPR_DOCUMENTS_DIR in a temporary directory (not created: the store makes it on first
    use) and CSPR_MAX_DOCUMENT_BYTES = MAX_DOCUMENT, for apps created from now on."""
    root = tmp_path / "documents"
    monkeypatch.setenv("CSPR_DOCUMENTS_DIR", str(root))
    monkeypatch.setenv("CSPR_MAX_DOCUMENT_BYTES", str(MAX_DOCUMENT))
    get_settings.cache_clear()
    yield root
    monkeypatch.undo()
    get_settings.cache_clear()


def upload(
    api: Api,
    case_id: str,
    content: bytes,
    *,
    filename: str = "report.pdf",
    kind: str = "rapid_review_report",
    title: str = "Rapid review report",
    who: str = "chair",
    partnership: str = "TW",
    content_type: str = "application/octet-stream",
    **headers: str,
) -> httpx.Response:
    return api.client.post(
        f"/api/v1/cases/{case_id}/documents",
        files={"file": (filename, content, content_type)},
        data={"kind": kind, "title": title},
        headers=api.headers(who, partnership, **headers),
    )


def files_in(root: Path) -> list[str]:
    """Every file in the store's directory, temporary ones included."""
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def document_rows() -> list[dict[str, Any]]:
    with get_engine().connect() as conn:
        return [
            dict(r)
            for r in conn.execute(text("SELECT * FROM documents ORDER BY uploaded_at")).mappings()
        ]


def _case_row(session: Session, case_id: str) -> Any:
    from cspr_engine.cases.models import Case

    case = session.get(Case, uuid.UUID(case_id))
    assert case is not None
    return case


def open_request(case_id: str, agency: str, requested_by: str, status: str = "open") -> str:
    """An information request to `agency`, inserted directly (the information requests
    package owns its API)."""
    with Session(get_engine()) as session:
        case = _case_row(session, case_id)
        earlier = session.exec(
            select(InformationRequest).where(col(InformationRequest.case_id) == case.id)
        ).all()
        request = InformationRequest(
            case_id=case.id,
            partnership_id=case.partnership_id,
            number=len(earlier) + 1,
            agency=agency,
            asked="Chronology of contact with the family",
            due_on=date(2026, 6, 24),
            status=status,
            requested_by=uuid.UUID(requested_by),
            requested_at=NOW,
        )
        session.add(request)
        session.commit()
        return str(request.id)


def set_request_status(request_id: str, status: str) -> None:
    with Session(get_engine()) as session:
        request = session.get(InformationRequest, uuid.UUID(request_id))
        assert request is not None
        request.status = status
        session.add(request)
        session.commit()


def share(case_id: str, grantee_partnership: str, granted_by: str) -> None:
    """A read-only share of the case with another partnership, inserted directly."""
    from cspr_engine.accounts.models import Partnership

    with Session(get_engine()) as session:
        case = _case_row(session, case_id)
        grantee = session.exec(
            select(Partnership).where(col(Partnership.code) == grantee_partnership)
        ).one()
        session.add(
            CaseShare(
                case_id=case.id,
                grantee_partnership_id=grantee.id,
                reason="Cross-boundary incident",
                granted_by=uuid.UUID(granted_by),
                granted_at=datetime(2026, 6, 16, 9, 0, tzinfo=NOW.tzinfo),
            )
        )
        session.commit()
