"""The case's documents page over HTTP, without a browser: the table with download links, the
upload form (multipart, read by the documents service's own reader), inline errors for a file
that is too large or not what its name says, and withdrawal. Every refusal is checked against
the database and the store's directory as well as the page."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from cspr_engine.accounts import service as accounts_service
from tests.documents import files
from tests.documents.support import (
    MAX_DOCUMENT,
    document_rows,
    files_in,
    open_request,
    share,
    upload,
    use_documents_dir,
)
from tests.factories import Api, Directory, snapshot
from tests.web.test_router import (
    Element,
    WebClient,
    error_summary,
    hidden_inputs,
    inline_errors,
    page,
    problem_text,
)

INCIDENT = {"outcome": "serious_harm", "abuse_or_neglect": "suspected"}


@pytest.fixture(autouse=True)
def documents_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from use_documents_dir(tmp_path, monkeypatch)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests are about pages, not password hashing (tests/accounts covers that).
    monkeypatch.setattr(
        accounts_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


@pytest.fixture
def people(app: FastAPI, directory: Directory) -> Iterator[Any]:
    made: list[WebClient] = []

    def make(email: str) -> WebClient:
        client = WebClient(app).sign_in(email)
        made.append(client)
        return client

    yield make
    for client in made:
        client.http.close()


@pytest.fixture
def chair(people: Any) -> WebClient:
    return people("chair@tw.example")


@pytest.fixture
def case(api: Api) -> dict[str, Any]:
    return api.create_case(incident=INCIDENT)


def url(case: dict[str, Any], rest: str = "") -> str:
    return f"/ui/cases/{case['reference']}/documents{rest}"


def post_upload(
    client: WebClient,
    case: dict[str, Any],
    content: bytes | None,
    *,
    filename: str = "report.pdf",
    kind: str | None = "rapid_review_report",
    title: str = "Rapid review report",
    csrf: str | None = None,
) -> httpx.Response:
    data = {"csrf_token": client.csrf if csrf is None else csrf, "title": title}
    if kind is not None:
        data["kind"] = kind
    # A browser sends an empty part for a file input left empty.
    file = (filename, content if content is not None else b"", "application/octet-stream")
    if content is None:
        file = ("", b"", "application/octet-stream")
    return client.http.post(url(case), data=data, files={"file": file})


def rows_of(doc: Element) -> list[Element]:
    return doc.by_id("documents").find_all("tr", cls="govuk-table__row")[1:]


def assert_nothing_stored(root: Path, before: dict[str, Any], case: dict[str, Any]) -> None:
    assert document_rows() == []
    assert files_in(root) == []
    assert snapshot(case["id"]) == before


class TestThePage:
    def test_an_empty_case_shows_the_upload_form_under_the_case_heading(
        self, chair: WebClient, case: dict[str, Any]
    ) -> None:
        response = chair.get(url(case))
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        doc = page(response)
        assert doc.find("span", cls="govuk-caption-l").text.startswith(case["reference"])
        assert doc.by_id("case-state").text == case["state_label"]
        current = doc.find("a", cls="app-sub-nav__link", aria_current="page")
        assert current.attrs["href"] == url(case)
        assert doc.by_id("no-documents").text == "No documents are attached to this case."
        form = doc.by_id("upload-form")
        assert form.attrs["enctype"] == "multipart/form-data"
        assert form.attrs["action"] == url(case)
        assert hidden_inputs(doc, url(case)) == {"csrf_token": chair.csrf}
        file_input = doc.by_id("upload-file")
        assert file_input.attrs["type"] == "file"
        assert file_input.attrs["name"] == "file"
        assert "govuk-file-upload" in file_input.attrs["class"]
        assert file_input.attrs["aria-describedby"] == "upload-file-hint"
        assert "1.5 MB" in doc.by_id("upload-file-hint").text
        kinds = [i.attrs["value"] for i in form.find_all("input", type="radio")]
        assert kinds == [
            "rapid_review_report",
            "terms_of_reference",
            "final_report",
            "information_return",
            "panel_correspondence",
            "other",
        ]
        assert doc.by_id("upload-title").attrs["name"] == "title"
        assert doc.by_id("upload-submit").text == "Attach document"

    def test_a_scrutineer_sees_and_downloads_but_has_no_forms(
        self, api: Api, people: Any, case: dict[str, Any]
    ) -> None:
        document = upload(api, case["id"], files.pdf()).json()
        scrutineer = people("scrutineer@tw.example")
        doc = page(scrutineer.get(url(case)))
        assert not doc.has_id("upload-form")
        assert not doc.has_id(f"withdraw-{document['id']}")
        link = doc.by_id(f"download-{document['id']}")
        served = scrutineer.get(link.attrs["href"])
        assert served.status_code == 200
        assert served.content == files.pdf()

    def test_another_partnership_gets_a_404_page_and_cannot_upload(
        self, api: Api, people: Any, case: dict[str, Any], documents_dir: Path
    ) -> None:
        document = upload(api, case["id"], files.pdf()).json()
        other = people("chair@ot.example")
        for path in (url(case), url(case, f"/{document['id']}/download")):
            response = other.get(path)
            assert response.status_code == 404
            assert page(response).find("h1").text == "Page not found"
        stored = files_in(documents_dir)
        response = post_upload(other, case, files.pdf())
        assert response.status_code == 404
        assert files_in(documents_dir) == stored
        assert len(document_rows()) == 1

    def test_a_shared_case_is_read_only_here_too(
        self, api: Api, people: Any, case: dict[str, Any], documents_dir: Path
    ) -> None:
        upload(api, case["id"], files.pdf())
        share(case["id"], "OT", api.directory.user_ids["TW"]["chair"])
        other = people("chair@ot.example")
        doc = page(other.get(url(case)))
        assert len(rows_of(doc)) == 1
        assert not doc.has_id("upload-form")
        response = post_upload(other, case, files.pdf())
        assert response.status_code == 403
        assert len(files_in(documents_dir)) == 1

    def test_an_agency_asked_for_a_return_may_attach_only_that(
        self, api: Api, people: Any, case: dict[str, Any]
    ) -> None:
        open_request(case["id"], "education", api.directory.user_ids["TW"]["chair"])
        education = people("referrer_education@tw.example")
        doc = page(education.get(url(case)))
        radios = doc.by_id("upload-form").find_all("input", type="radio")
        assert [(r.attrs["value"], "checked" in r.attrs) for r in radios] == [
            ("information_return", True)
        ]
        response = post_upload(education, case, files.pdf(), kind="information_return")
        assert response.status_code == 303, response.text
        assert [r["kind"] for r in document_rows()] == ["information_return"]


class TestUpload:
    def test_an_upload_is_listed_and_downloads_as_sent(
        self, chair: WebClient, case: dict[str, Any], documents_dir: Path
    ) -> None:
        content = files.docx()
        response = post_upload(
            chair, case, content, filename="ToR v2.docx", kind="terms_of_reference", title="ToR"
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == url(case)
        doc = page(chair.get(url(case)))
        assert doc.by_id("done").text == "Document attached"
        (row,) = rows_of(doc)
        (stored,) = document_rows()
        digest = hashlib.sha256(content).hexdigest()
        assert uuid.UUID(row.attrs["data-document-id"]) == uuid.UUID(str(stored["id"]))
        assert row.attrs["data-sha256"] == digest
        assert row.attrs["data-withdrawn"] == "no"
        cells = [c.text for c in row.find_all("td")]
        assert cells[0] == "Terms of reference"
        assert cells[1] == f"{len(content)} bytes"
        assert cells[2] == "Word document"
        assert cells[3].startswith("chair, 17 June 2026 at 10:00am")
        assert cells[4].startswith(digest[:12])
        header = row.find("th")
        assert "ToR v2.docx" in header.text
        link = header.find("a", cls="govuk-link")
        assert link.text.startswith("ToR")
        served = chair.get(link.attrs["href"])
        assert served.status_code == 200
        assert served.content == content
        assert served.headers["etag"] == f'"{digest}"'
        assert served.headers["content-disposition"].startswith(
            'attachment; filename="ToR v2.docx"'
        )
        assert served.headers["x-content-type-options"] == "nosniff"
        assert served.headers["cache-control"] == "no-store"
        assert files_in(documents_dir) == [stored["storage_key"]]

    def test_a_disguised_program_is_refused_beside_the_file_field(
        self, chair: WebClient, case: dict[str, Any], documents_dir: Path
    ) -> None:
        before = snapshot(case["id"])
        response = post_upload(chair, case, files.windows_program(), title="My report")
        assert response.status_code == 415
        doc = page(response)
        ((anchor, message),) = error_summary(doc)
        assert anchor == "#upload-file"
        assert message.startswith("The selected file must be a PDF, Word document")
        assert message.endswith("it is a Windows program (MZ/PE executable)")
        assert inline_errors(doc) == {"upload-file-error": message}
        assert doc.by_id("upload-file").attrs["aria-describedby"] == (
            "upload-file-hint upload-file-error"
        )
        assert doc.find("title").text.startswith("Error: ")
        # What was typed stays typed.
        assert doc.by_id("upload-title").attrs["value"] == "My report"
        assert "checked" in doc.by_id("upload-kind").attrs
        assert_nothing_stored(documents_dir, before, case)

    def test_html_named_txt_is_refused(
        self, chair: WebClient, case: dict[str, Any], documents_dir: Path
    ) -> None:
        before = snapshot(case["id"])
        response = post_upload(chair, case, files.html(), filename="notes.txt")
        assert response.status_code == 415
        assert "HTML, SVG or XML markup" in inline_errors(page(response))["upload-file-error"]
        assert_nothing_stored(documents_dir, before, case)

    def test_a_file_too_large_is_refused_beside_the_file_field(
        self, chair: WebClient, case: dict[str, Any], documents_dir: Path
    ) -> None:
        before = snapshot(case["id"])
        content = files.pdf() + b"%" * MAX_DOCUMENT
        response = post_upload(chair, case, content)
        assert response.status_code == 413
        doc = page(response)
        assert error_summary(doc) == [
            ("#upload-file", "The selected file must be smaller than 1.5 MB")
        ]
        assert_nothing_stored(documents_dir, before, case)

    def test_an_empty_form_names_every_missing_answer(
        self, chair: WebClient, case: dict[str, Any], documents_dir: Path
    ) -> None:
        before = snapshot(case["id"])
        response = post_upload(chair, case, None, kind=None, title="")
        assert response.status_code == 422
        assert error_summary(page(response)) == [
            ("#upload-file", "Select a file"),
            ("#upload-kind", "Select the kind of document"),
            ("#upload-title", "Enter a title"),
        ]
        assert_nothing_stored(documents_dir, before, case)

    def test_an_empty_file_is_refused(
        self, chair: WebClient, case: dict[str, Any], documents_dir: Path
    ) -> None:
        before = snapshot(case["id"])
        response = post_upload(chair, case, b"", filename="empty.pdf")
        assert response.status_code == 422
        assert error_summary(page(response)) == [("#upload-file", "The selected file is empty")]
        assert_nothing_stored(documents_dir, before, case)

    def test_without_the_csrf_token_nothing_is_stored(
        self, chair: WebClient, case: dict[str, Any], documents_dir: Path
    ) -> None:
        before = snapshot(case["id"])
        response = post_upload(chair, case, files.pdf(), csrf="forged")
        assert response.status_code == 403
        assert "expired" in page(response).text
        assert_nothing_stored(documents_dir, before, case)

    def test_a_scrutineer_cannot_upload(
        self, people: Any, case: dict[str, Any], documents_dir: Path
    ) -> None:
        before = snapshot(case["id"])
        response = post_upload(people("scrutineer@tw.example"), case, files.pdf())
        assert response.status_code == 403
        assert_nothing_stored(documents_dir, before, case)


class TestWithdraw:
    def test_the_business_unit_withdraws_with_a_reason(
        self, api: Api, people: Any, case: dict[str, Any], documents_dir: Path
    ) -> None:
        document = upload(api, case["id"], files.pdf()).json()
        business = people("business@tw.example")
        doc = page(business.get(url(case)))
        details = doc.by_id(f"withdraw-{document['id']}")
        assert "open" not in details.attrs
        form = details.find("form")
        assert form.attrs["action"] == url(case, f"/{document['id']}/withdraw")
        response = business.post(form.attrs["action"], {"reason": "Wrong case"})
        assert response.status_code == 303
        doc = page(business.get(url(case)))
        assert doc.by_id("done").text == "Document withdrawn"
        (row,) = rows_of(doc)
        assert row.attrs["data-withdrawn"] == "yes"
        assert not doc.has_id(f"download-{document['id']}")
        assert not doc.has_id(f"withdraw-{document['id']}")
        assert "Withdrawn" in row.find("th").text
        served = business.get(url(case, f"/{document['id']}/download"))
        assert served.status_code == 410
        assert len(files_in(documents_dir)) == 1  # kept, unserved

    def test_a_withdrawal_without_a_reason_reopens_its_form_with_the_error(
        self, api: Api, people: Any, case: dict[str, Any]
    ) -> None:
        document = upload(api, case["id"], files.pdf()).json()
        business = people("business@tw.example")
        before = snapshot(case["id"])
        response = business.post(url(case, f"/{document['id']}/withdraw"), {"reason": " "})
        assert response.status_code == 422
        doc = page(response)
        anchor = f"withdraw-{document['id']}-reason"
        assert error_summary(doc) == [(f"#{anchor}", "Enter the reason")]
        assert "open" in doc.by_id(f"withdraw-{document['id']}").attrs
        assert snapshot(case["id"]) == before

    def test_the_chair_sees_withdraw_forms_and_the_quality_group_does_not(
        self, api: Api, people: Any, chair: WebClient, case: dict[str, Any]
    ) -> None:
        document = upload(api, case["id"], files.pdf()).json()
        assert page(chair.get(url(case))).has_id(f"withdraw-{document['id']}")
        qpd = people("qpd@tw.example")
        doc = page(qpd.get(url(case)))
        assert doc.has_id("upload-form")
        assert not doc.has_id(f"withdraw-{document['id']}")
        before = snapshot(case["id"])
        response = qpd.post(url(case, f"/{document['id']}/withdraw"), {"reason": "No"})
        assert response.status_code == 403
        assert "withdrawn by the panel chair" in problem_text(page(response))
        assert snapshot(case["id"]) == before


def test_an_altered_file_is_an_error_page_not_its_bytes(
    api: Api, chair: WebClient, case: dict[str, Any], documents_dir: Path
) -> None:
    document = upload(api, case["id"], files.pdf()).json()
    (stored,) = document_rows()
    (documents_dir / stored["storage_key"]).write_bytes(b"%PDF-1.4 something else")
    response = chair.get(url(case, f"/{document['id']}/download"))
    assert response.status_code == 503
    doc = page(response)
    assert "does not match what was uploaded" in doc.text
    assert b"something else" not in response.content
