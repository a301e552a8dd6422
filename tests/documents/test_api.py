"""Documents over the API, end to end: every accepted kind stored outside the database and
served back byte for byte with its SHA-256; too large, disguised or malformed uploads refused
with a problem and nothing stored (no row, no file, not even a temporary one); who may attach,
read and withdraw; a stored file altered behind the service's back is not served."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from cspr_engine.kit.clock import FixedClock
from tests.documents import files
from tests.documents.support import (
    MAX_DOCUMENT,
    document_rows,
    files_in,
    open_request,
    set_request_status,
    share,
    upload,
)
from tests.factories import Api, assert_problem, commits_failing, snapshot

PDF_TYPE = "application/pdf"


@pytest.fixture
def case(api: Api) -> dict[str, Any]:
    return api.create_case()


def content_url(case_id: str, document_id: str) -> str:
    return f"/api/v1/cases/{case_id}/documents/{document_id}/content"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_nothing_stored(root: Path, before: dict[str, Any], case_id: str) -> None:
    """No document row, no file (temporary or kept), and the case itself unchanged."""
    assert document_rows() == []
    assert files_in(root) == []
    assert snapshot(case_id) == before


ACCEPTED: list[tuple[str, Callable[[], bytes], str, str]] = [
    ("report.pdf", files.pdf, PDF_TYPE, "report.pdf"),
    (
        "report.docx",
        files.docx,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "report.docx",
    ),
    (
        "actions.xlsx",
        files.xlsx,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "actions.xlsx",
    ),
    (
        "briefing.pptx",
        files.pptx,
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "briefing.pptx",
    ),
    ("minutes.odt", files.odt, "application/vnd.oasis.opendocument.text", "minutes.odt"),
    ("chart.png", files.png, "image/png", "chart.png"),
    ("scan.jpeg", files.jpeg, "image/jpeg", "scan.jpeg"),
    ("returns.csv", files.csv_text, "text/plain", "returns.csv"),
]


class TestAcceptedKinds:
    @pytest.mark.parametrize(
        ("filename", "build", "media_type", "served_as"),
        ACCEPTED,
        ids=[a[0] for a in ACCEPTED],
    )
    def test_it_is_stored_outside_the_database_and_served_back_unchanged(
        self,
        api: Api,
        case: dict[str, Any],
        documents_dir: Path,
        filename: str,
        build: Callable[[], bytes],
        media_type: str,
        served_as: str,
    ) -> None:
        content = build()
        response = upload(api, case["id"], content, filename=filename)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["media_type"] == media_type
        assert body["size"] == len(content)
        assert body["sha256"] == sha256(content)
        assert body["filename"] == served_as
        assert body["withdrawn"] is False
        assert response.headers["location"] == f"/api/v1/cases/{case['id']}/documents/{body['id']}"
        # On disk: one file, named by its random storage key, holding exactly the bytes.
        (row,) = document_rows()
        assert files_in(documents_dir) == [row["storage_key"]]
        assert filename not in row["storage_key"]
        assert (documents_dir / row["storage_key"]).read_bytes() == content
        assert row["sha256"] == sha256(content)

        served = api.client.get(content_url(case["id"], body["id"]), headers=api.headers("chair"))
        assert served.status_code == 200, served.text
        assert served.content == content
        assert sha256(served.content) == body["sha256"]
        digest = base64.b64encode(hashlib.sha256(content).digest()).decode()
        assert served.headers["repr-digest"] == f"sha-256=:{digest}:"
        assert served.headers["etag"] == f'"{body["sha256"]}"'
        expected_type = media_type + ("; charset=utf-8" if media_type == "text/plain" else "")
        assert served.headers["content-type"] == expected_type
        assert served.headers["content-disposition"] == (
            f"attachment; filename=\"{served_as}\"; filename*=UTF-8''{served_as}"
        )
        assert served.headers["x-content-type-options"] == "nosniff"
        assert served.headers["cache-control"] == "no-store"
        assert served.headers["content-length"] == str(len(content))

    def test_the_store_directory_is_created_on_first_use(
        self, api: Api, case: dict[str, Any], documents_dir: Path
    ) -> None:
        assert not documents_dir.exists()
        assert upload(api, case["id"], files.pdf()).status_code == 201
        assert documents_dir.is_dir()
        assert oct(documents_dir.stat().st_mode & 0o777) == oct(0o700)

    def test_a_document_larger_than_the_usual_body_limit_is_accepted(
        self, api: Api, case: dict[str, Any], documents_dir: Path
    ) -> None:
        # 1.2 MiB: more than any other request body may be (1 MiB), within the document limit.
        content = files.pdf() + b"%" * (1_258_291 - len(files.pdf()))
        response = upload(api, case["id"], content)
        assert response.status_code == 201, response.text
        assert response.json()["size"] == len(content)
        (row,) = document_rows()
        assert (documents_dir / row["storage_key"]).read_bytes() == content

    def test_the_addition_is_audited_on_the_case_without_the_file_name(
        self, api: Api, case: dict[str, Any]
    ) -> None:
        response = upload(api, case["id"], files.pdf(), filename="Jane Doe IMR.pdf")
        body = response.json()
        events = api.events(case["id"])
        added = [e for e in events if e["kind"] == "document.added"]
        assert len(added) == 1
        assert added[0]["data"] == {
            "document": body["id"],
            "kind": "rapid_review_report",
            "title": "Rapid review report",
            "size": len(files.pdf()),
            "sha256": sha256(files.pdf()),
            "media_type": PDF_TYPE,
        }
        assert added[0]["from_state"] == added[0]["to_state"] == case["state"]
        assert "Jane Doe" not in json.dumps(events)
        # The case moved to its next version, and the response says which.
        assert api.get_case(case["id"])["version"] == case["version"] + 1
        assert response.headers["etag"] == f'"{case["version"] + 1}"'

    def test_a_stale_if_match_is_refused_before_the_body_is_read(
        self, api: Api, case: dict[str, Any], documents_dir: Path
    ) -> None:
        before = snapshot(case["id"])
        response = upload(api, case["id"], files.pdf(), **{"If-Match": '"99"'})
        assert_problem(response, 412, "/problems/stale-version")
        assert_nothing_stored(documents_dir, before, case["id"])
        ok = upload(api, case["id"], files.pdf(), **{"If-Match": f'"{case["version"]}"'})
        assert ok.status_code == 201, ok.text


class TestList:
    def test_documents_are_listed_newest_first_with_their_metadata(
        self, api: Api, case: dict[str, Any], clock: FixedClock
    ) -> None:
        first = upload(api, case["id"], files.pdf(), title="Terms", kind="terms_of_reference")
        clock.set(clock.now() + timedelta(hours=1))
        second = upload(api, case["id"], files.docx(), filename="r.docx", title="Final")
        listed = api.client.get(
            f"/api/v1/cases/{case['id']}/documents", headers=api.headers("scrutineer")
        )
        assert listed.status_code == 200, listed.text
        items = listed.json()["items"]
        assert [i["id"] for i in items] == [second.json()["id"], first.json()["id"]]
        assert [i["title"] for i in items] == ["Final", "Terms"]
        assert items[1]["kind"] == "terms_of_reference"
        assert listed.json()["next_cursor"] is None
        one = api.client.get(
            f"/api/v1/cases/{case['id']}/documents/{first.json()['id']}",
            headers=api.headers("scrutineer"),
        )
        assert one.json() == first.json()

    def test_the_list_pages_with_a_cursor(
        self, api: Api, case: dict[str, Any], clock: FixedClock
    ) -> None:
        ids = []
        for n in range(3):
            clock.set(clock.now() + timedelta(minutes=1))
            ids.append(upload(api, case["id"], files.pdf(), title=f"Doc {n}").json()["id"])
        url = f"/api/v1/cases/{case['id']}/documents?limit=2"
        page1 = api.client.get(url, headers=api.headers("chair")).json()
        assert [i["id"] for i in page1["items"]] == [ids[2], ids[1]]
        page2 = api.client.get(
            f"{url}&cursor={page1['next_cursor']}", headers=api.headers("chair")
        ).json()
        assert [i["id"] for i in page2["items"]] == [ids[0]]
        assert page2["next_cursor"] is None

    def test_an_unknown_document_is_404(self, api: Api, case: dict[str, Any]) -> None:
        for key in ("00000000-0000-0000-0000-000000000000", "not-an-id"):
            for suffix in ("", "/content"):
                response = api.client.get(
                    f"/api/v1/cases/{case['id']}/documents/{key}{suffix}",
                    headers=api.headers("chair"),
                )
                assert_problem(response, 404, "/problems/document-not-found")

    def test_a_document_of_another_case_is_404_through_this_one(
        self, api: Api, case: dict[str, Any]
    ) -> None:
        other = api.create_case()
        document = upload(api, other["id"], files.pdf()).json()
        response = api.client.get(
            content_url(case["id"], document["id"]), headers=api.headers("chair")
        )
        assert_problem(response, 404, "/problems/document-not-found")


class TestTooLarge:
    def test_a_document_over_the_limit_is_413_and_nothing_is_stored(
        self, api: Api, case: dict[str, Any], documents_dir: Path
    ) -> None:
        before = snapshot(case["id"])
        content = files.pdf() + b"%" * (MAX_DOCUMENT + 1 - len(files.pdf()))
        response = upload(api, case["id"], content)
        body = assert_problem(response, 413, "/problems/document-too-large")
        assert body["max_bytes"] == MAX_DOCUMENT
        assert "1.5 MB" in body["detail"]
        assert_nothing_stored(documents_dir, before, case["id"])

    def test_a_document_of_exactly_the_limit_is_accepted(
        self, api: Api, case: dict[str, Any]
    ) -> None:
        content = files.pdf() + b"%" * (MAX_DOCUMENT - len(files.pdf()))
        response = upload(api, case["id"], content)
        assert response.status_code == 201, response.text
        assert response.json()["size"] == MAX_DOCUMENT

    def test_a_body_declared_far_over_the_allowance_is_refused_unread(
        self, api: Api, case: dict[str, Any], documents_dir: Path
    ) -> None:
        before = snapshot(case["id"])

        def body() -> Iterator[bytes]:
            for _ in range(40):
                yield b"x" * 65536

        response = api.client.post(
            f"/api/v1/cases/{case['id']}/documents",
            content=body(),
            headers=api.headers(
                "chair",
                **{
                    "Content-Type": "multipart/form-data; boundary=b",
                    "Content-Length": str(40 * 65536),
                },
            ),
        )
        assert_problem(response, 413, "/problems/document-too-large")
        assert_nothing_stored(documents_dir, before, case["id"])

    def test_a_body_without_a_length_is_counted_as_it_arrives(
        self, api: Api, case: dict[str, Any], documents_dir: Path
    ) -> None:
        """Chunked, no Content-Length: the middleware counts, the reader stops at the limit."""
        before = snapshot(case["id"])
        head = (
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
            b"Content-Type: application/pdf\r\n\r\n%PDF-1.4\n"
        )

        def body() -> Iterator[bytes]:
            yield head
            for _ in range(30):
                yield b"%" * 65536

        response = api.client.post(
            f"/api/v1/cases/{case['id']}/documents",
            content=body(),
            headers=api.headers("chair", **{"Content-Type": "multipart/form-data; boundary=b"}),
        )
        assert_problem(response, 413, "/problems/document-too-large")
        assert_nothing_stored(documents_dir, before, case["id"])

    def test_every_other_body_keeps_the_usual_limit(self, api: Api, case: dict[str, Any]) -> None:
        document = upload(api, case["id"], files.pdf()).json()
        big = {"reason": "x" * 1_100_000}
        response = api.client.post(
            f"/api/v1/cases/{case['id']}/documents/{document['id']}/withdraw",
            json=big,
            headers=api.headers("chair"),
        )
        assert_problem(response, 413, "/problems/payload-too-large")
        response = api.client.post(
            f"/api/v1/cases/{case['id']}/transitions",
            json={"trigger": "notify_panel", "data": {}, "comment": "x" * 1_100_000},
            headers=api.headers("chair"),
        )
        assert_problem(response, 413, "/problems/payload-too-large")
        # Nor may a document route's neighbour take a document-sized body.
        response = api.client.post(
            f"/api/v1/cases/{case['id']}/documents/x",
            content=b"x" * 1_100_000,
            headers=api.headers("chair"),
        )
        assert_problem(response, 413, "/problems/payload-too-large")


REFUSED: list[tuple[str, bytes, str, str]] = [
    ("report.pdf", files.windows_program(), PDF_TYPE, "Windows program"),
    ("report.pdf", files.linux_program(), PDF_TYPE, "Linux program"),
    ("notes.txt", files.script(), "text/plain", "script"),
    ("notes.txt", files.html(), "text/plain", "HTML"),
    ("chart.png", files.svg(), "image/png", "SVG"),
    ("report.docx", files.plain_zip(), "application/octet-stream", "ZIP archive"),
    ("report.docx", files.docm(), "application/octet-stream", "macros"),
    ("scan.jpg", bytes(range(256)) * 4, "image/jpeg", "binary data"),
    ("notes.txt", "Résumé in Latin-1".encode("latin-1"), "text/plain", "UTF-8"),
]


class TestRefusedContent:
    @pytest.mark.parametrize(
        ("filename", "content", "claimed_type", "seen"),
        REFUSED,
        ids=[f"{r[3]} as {r[0]}" for r in REFUSED],
    )
    def test_a_file_is_judged_by_its_content_not_its_name(
        self,
        api: Api,
        case: dict[str, Any],
        documents_dir: Path,
        filename: str,
        content: bytes,
        claimed_type: str,
        seen: str,
    ) -> None:
        before = snapshot(case["id"])
        response = upload(api, case["id"], content, filename=filename, content_type=claimed_type)
        body = assert_problem(response, 415, "/problems/document-type-refused")
        assert seen in body["detected"]
        assert seen in body["detail"]
        assert "PDF" in body["allowed"]
        assert "Word document" in body["allowed"]
        assert_nothing_stored(documents_dir, before, case["id"])

    def test_an_empty_file_is_refused(
        self, api: Api, case: dict[str, Any], documents_dir: Path
    ) -> None:
        before = snapshot(case["id"])
        response = upload(api, case["id"], b"", filename="empty.pdf")
        body = assert_problem(response, 422, "/problems/invalid-data")
        assert body["errors"] == [
            {"loc": "file", "message": "the selected file is empty", "type": "empty"}
        ]
        assert_nothing_stored(documents_dir, before, case["id"])

    def test_missing_and_invalid_fields_are_named_together(
        self, api: Api, case: dict[str, Any], documents_dir: Path
    ) -> None:
        before = snapshot(case["id"])
        response = api.client.post(
            f"/api/v1/cases/{case['id']}/documents",
            files={"file": ("r.pdf", files.pdf(), PDF_TYPE)},
            data={"kind": "minutes", "title": "x" * 201, "colour": "blue"},
            headers=api.headers("chair"),
        )
        body = assert_problem(response, 422, "/problems/invalid-data")
        assert sorted(e["loc"] for e in body["errors"]) == ["colour", "kind", "title"]
        assert_nothing_stored(documents_dir, before, case["id"])

    def test_no_file_is_refused(self, api: Api, case: dict[str, Any], documents_dir: Path) -> None:
        before = snapshot(case["id"])
        response = api.client.post(
            f"/api/v1/cases/{case['id']}/documents",
            files={"kind": (None, "other"), "title": (None, "Notes")},
            headers=api.headers("chair"),
        )
        body = assert_problem(response, 422, "/problems/invalid-data")
        assert body["errors"] == [{"loc": "file", "message": "select a file", "type": "missing"}]
        assert_nothing_stored(documents_dir, before, case["id"])

    def test_two_files_are_refused(
        self, api: Api, case: dict[str, Any], documents_dir: Path
    ) -> None:
        before = snapshot(case["id"])
        response = api.client.post(
            f"/api/v1/cases/{case['id']}/documents",
            files=[("file", ("a.pdf", files.pdf(), PDF_TYPE)), ("file", ("b.pdf", files.pdf()))],
            data={"kind": "other", "title": "Two"},
            headers=api.headers("chair"),
        )
        body = assert_problem(response, 422, "/problems/invalid-data")
        assert body["errors"][0]["loc"] == "file"
        assert_nothing_stored(documents_dir, before, case["id"])

    def test_json_is_not_an_upload(
        self, api: Api, case: dict[str, Any], documents_dir: Path
    ) -> None:
        response = api.client.post(
            f"/api/v1/cases/{case['id']}/documents",
            json={"kind": "other", "title": "x", "file": "JVBERi0="},
            headers=api.headers("chair"),
        )
        assert_problem(response, 415, "/problems/multipart-required")
        assert files_in(documents_dir) == []

    @pytest.mark.parametrize(
        "body",
        [
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n%PDF-',
            b"no multipart here at all",
            b"--b\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n--b--\r\n",
        ],
        ids=["cut short", "not multipart", "part without a name"],
    )
    def test_a_malformed_body_is_400_and_leaves_no_file(
        self, api: Api, case: dict[str, Any], documents_dir: Path, body: bytes
    ) -> None:
        response = api.client.post(
            f"/api/v1/cases/{case['id']}/documents",
            content=body,
            headers=api.headers("chair", **{"Content-Type": "multipart/form-data; boundary=b"}),
        )
        assert_problem(response, 400, "/problems/malformed-upload")
        assert files_in(documents_dir) == []
        assert document_rows() == []

    def test_the_served_name_is_cleaned_and_matches_the_content(
        self, api: Api, case: dict[str, Any]
    ) -> None:
        # A folder, a right-to-left override (which shows "evil\u202efdp.exe" as evilexe.pdf)
        # and the wrong extension for what it holds.
        response = upload(api, case["id"], files.pdf(), filename="..\\..\\evil\u202efdp.exe")
        assert response.status_code == 201, response.text
        assert response.json()["filename"] == "evilfdp.exe.pdf"
        named = upload(api, case["id"], files.pdf(), filename="Überprüfung: Bericht.PDF")
        served = api.client.get(
            content_url(case["id"], named.json()["id"]), headers=api.headers("chair")
        )
        assert served.headers["content-disposition"] == (
            'attachment; filename="_berpr_fung_ Bericht.pdf"; '
            "filename*=UTF-8''%C3%9Cberpr%C3%BCfung_%20Bericht.pdf"
        )


class TestWho:
    def test_a_scrutineer_reads_and_downloads_but_cannot_attach(
        self, api: Api, case: dict[str, Any], documents_dir: Path
    ) -> None:
        document = upload(api, case["id"], files.pdf()).json()
        served = api.client.get(
            content_url(case["id"], document["id"]), headers=api.headers("scrutineer")
        )
        assert served.status_code == 200
        assert served.content == files.pdf()
        stored_before = files_in(documents_dir)
        before = snapshot(case["id"])
        refused = upload(api, case["id"], files.pdf(), who="scrutineer")
        assert_problem(refused, 403, "/problems/document-upload-forbidden")
        assert files_in(documents_dir) == stored_before
        assert len(document_rows()) == 1
        assert snapshot(case["id"]) == before

    @pytest.mark.parametrize("who", ["business", "qpd"])
    def test_the_business_unit_and_the_quality_group_attach(
        self, api: Api, case: dict[str, Any], who: str
    ) -> None:
        response = upload(api, case["id"], files.pdf(), who=who)
        assert response.status_code == 201, response.text

    def test_another_partnership_sees_nothing(
        self, api: Api, case: dict[str, Any], documents_dir: Path
    ) -> None:
        document = upload(api, case["id"], files.pdf()).json()
        base = f"/api/v1/cases/{case['id']}/documents"
        for url in (base, f"{base}/{document['id']}", f"{base}/{document['id']}/content"):
            response = api.client.get(url, headers=api.headers("chair", "OT"))
            assert_problem(response, 404, "/problems/case-not-found")
        refused = upload(api, case["id"], files.pdf(), who="chair", partnership="OT")
        assert_problem(refused, 404, "/problems/case-not-found")
        assert len(document_rows()) == 1
        assert len(files_in(documents_dir)) == 1

    def test_a_partnership_the_case_is_shared_with_reads_but_cannot_attach(
        self, api: Api, case: dict[str, Any], documents_dir: Path
    ) -> None:
        document = upload(api, case["id"], files.pdf()).json()
        share(case["id"], "OT", api.directory.user_ids["TW"]["chair"])
        served = api.client.get(
            content_url(case["id"], document["id"]), headers=api.headers("chair", "OT")
        )
        assert served.status_code == 200
        assert served.content == files.pdf()
        refused = upload(api, case["id"], files.pdf(), partnership="OT")
        assert_problem(refused, 403, "/problems/shared-case-read-only")
        assert len(files_in(documents_dir)) == 1

    def test_an_agency_with_an_open_request_attaches_its_return(
        self, api: Api, documents_dir: Path
    ) -> None:
        # Education neither referred the case nor may read it until it is asked for a return.
        case = api.create_case()
        response = upload(
            api, case["id"], files.pdf(), kind="information_return", who="referrer_education"
        )
        assert_problem(response, 404, "/problems/case-not-found")
        request_id = open_request(case["id"], "education", api.directory.user_ids["TW"]["chair"])
        response = upload(
            api,
            case["id"],
            files.docx(),
            filename="return.docx",
            kind="information_return",
            title="Education's return",
            who="referrer_education",
        )
        assert response.status_code == 201, response.text
        assert response.json()["kind"] == "information_return"
        # Only its return, nothing else.
        other = upload(api, case["id"], files.pdf(), kind="final_report", who="referrer_education")
        body = assert_problem(other, 403, "/problems/document-upload-forbidden")
        assert body["allowed_kinds"] == ["information_return"]
        # Once the request is answered, no more.
        set_request_status(request_id, "answered")
        late = upload(
            api, case["id"], files.pdf(), kind="information_return", who="referrer_education"
        )
        assert_problem(late, 403, "/problems/document-upload-forbidden")
        assert len(document_rows()) == 1
        assert len(files_in(documents_dir)) == 1

    def test_an_agency_without_an_open_request_cannot_attach(
        self, api: Api, case: dict[str, Any]
    ) -> None:
        # The police referred the case, so their referrer reads it; no request, no upload.
        open_request(case["id"], "health", api.directory.user_ids["TW"]["chair"])
        response = upload(api, case["id"], files.pdf(), kind="information_return", who="referrer")
        assert_problem(response, 403, "/problems/document-upload-forbidden")


class TestWithdraw:
    def withdraw(
        self, api: Api, case_id: str, document_id: str, who: str = "business", **headers: str
    ) -> Any:
        return api.client.post(
            f"/api/v1/cases/{case_id}/documents/{document_id}/withdraw",
            json={"reason": "Uploaded to the wrong case"},
            headers=api.headers(who, **headers),
        )

    def test_a_withdrawn_document_stays_listed_and_kept_but_is_not_served(
        self, api: Api, case: dict[str, Any], documents_dir: Path, clock: FixedClock
    ) -> None:
        document = upload(api, case["id"], files.pdf()).json()
        response = self.withdraw(api, case["id"], document["id"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["withdrawn"] is True
        assert body["withdrawn_by"] == api.directory.user_ids["TW"]["business"]
        assert body["withdrawn_at"] is not None
        listed = api.client.get(
            f"/api/v1/cases/{case['id']}/documents", headers=api.headers("chair")
        ).json()
        assert [i["withdrawn"] for i in listed["items"]] == [True]
        served = api.client.get(
            content_url(case["id"], document["id"]), headers=api.headers("chair")
        )
        assert_problem(served, 410, "/problems/document-withdrawn")
        (row,) = document_rows()
        assert files_in(documents_dir) == [row["storage_key"]]
        (event,) = [e for e in api.events(case["id"]) if e["kind"] == "document.withdrawn"]
        assert event["comment"] == "Uploaded to the wrong case"
        assert event["data"]["document"] == document["id"]
        assert event["data"]["sha256"] == document["sha256"]

    def test_withdrawing_twice_is_a_conflict(self, api: Api, case: dict[str, Any]) -> None:
        document = upload(api, case["id"], files.pdf()).json()
        assert self.withdraw(api, case["id"], document["id"]).status_code == 200
        before = snapshot(case["id"])
        again = self.withdraw(api, case["id"], document["id"])
        assert_problem(again, 409, "/problems/document-already-withdrawn")
        assert snapshot(case["id"]) == before

    @pytest.mark.parametrize("who", ["qpd", "scrutineer", "referrer"])
    def test_only_the_chair_and_the_business_unit_withdraw(
        self, api: Api, case: dict[str, Any], who: str
    ) -> None:
        document = upload(api, case["id"], files.pdf()).json()
        before = snapshot(case["id"])
        response = self.withdraw(api, case["id"], document["id"], who=who)
        assert_problem(response, 403, "/problems/document-withdraw-forbidden")
        assert snapshot(case["id"]) == before

    def test_a_reason_is_required(self, api: Api, case: dict[str, Any]) -> None:
        document = upload(api, case["id"], files.pdf()).json()
        response = api.client.post(
            f"/api/v1/cases/{case['id']}/documents/{document['id']}/withdraw",
            json={"reason": "  "},
            headers=api.headers("chair"),
        )
        body = assert_problem(response, 422, "/problems/invalid-data")
        assert body["errors"][0]["loc"] == "reason"


class TestIntegrity:
    def test_a_file_altered_on_disk_is_not_served(
        self,
        api: Api,
        case: dict[str, Any],
        documents_dir: Path,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        document = upload(api, case["id"], files.pdf()).json()
        (row,) = document_rows()
        path = documents_dir / row["storage_key"]
        path.write_bytes(path.read_bytes().replace(b"Catalog", b"Catalot"))  # same size
        with caplog.at_level(logging.DEBUG):
            response = api.client.get(
                content_url(case["id"], document["id"]), headers=api.headers("chair")
            )
        body = assert_problem(response, 503, "/problems/document-integrity-failed")
        assert body["document_id"] == document["id"]
        assert "retry-after" not in response.headers
        failures = [r for r in caplog.records if "integrity" in r.getMessage()]
        assert [r.getMessage() for r in failures] == [
            f"document {document['id']} failed its integrity check (altered)"
        ]
        # The record is still there to read.
        meta = api.client.get(
            f"/api/v1/cases/{case['id']}/documents/{document['id']}", headers=api.headers("chair")
        )
        assert meta.status_code == 200

    def test_a_file_grown_or_gone_is_not_served(
        self, api: Api, case: dict[str, Any], documents_dir: Path
    ) -> None:
        document = upload(api, case["id"], files.pdf()).json()
        (row,) = document_rows()
        path = documents_dir / row["storage_key"]
        with path.open("ab") as f:
            f.write(b"%extra")
        response = api.client.get(
            content_url(case["id"], document["id"]), headers=api.headers("chair")
        )
        assert_problem(response, 503, "/problems/document-integrity-failed")
        path.unlink()
        response = api.client.get(
            content_url(case["id"], document["id"]), headers=api.headers("chair")
        )
        assert_problem(response, 503, "/problems/document-integrity-failed")


class TestCommitFailure:
    def test_a_failed_commit_leaves_no_file(
        self, app: FastAPI, api: Api, case: dict[str, Any], documents_dir: Path
    ) -> None:
        with commits_failing(app):
            response = upload(api, case["id"], files.pdf())
        assert_problem(response, 503, "/problems/service-unavailable")
        assert document_rows() == []
        assert files_in(documents_dir) == []


class TestLogs:
    def test_no_file_name_reaches_the_logs(
        self, api: Api, case: dict[str, Any], caplog: pytest.LogCaptureFixture
    ) -> None:
        name = "Jane-Doe-Section-11.pdf"
        with caplog.at_level(logging.DEBUG):
            document = upload(api, case["id"], files.pdf(), filename=name).json()
            upload(api, case["id"], files.windows_program(), filename=name)
            upload(api, case["id"], b"", filename=name)
            api.client.get(content_url(case["id"], document["id"]), headers=api.headers("chair"))
            api.client.get(f"/api/v1/cases/{case['id']}/documents", headers=api.headers("chair"))
        assert caplog.records, "the check needs log records to look at"
        for record in caplog.records:
            line = record.getMessage()
            assert "Jane-Doe" not in line, line
            assert "Rapid review report" not in line, line


def test_no_temporary_file_survives_any_refusal(
    api: Api, case: dict[str, Any], documents_dir: Path
) -> None:
    """After a mix of refusals and one success, the directory holds the one document only."""
    upload(api, case["id"], files.windows_program())
    upload(api, case["id"], files.pdf() + b"%" * MAX_DOCUMENT)
    upload(api, case["id"], files.pdf(), who="scrutineer")
    upload(api, case["id"], files.pdf(), kind="nonsense")
    upload(api, case["id"], files.pdf())
    (row,) = document_rows()
    assert files_in(documents_dir) == [row["storage_key"]]
    assert not [n for n in os.listdir(documents_dir) if n.startswith(".upload-")]
