"""The case page's downloads, over HTTP without a browser: the links (the record's only for those
who may export it), the pack and the record served to the signed-in user as the API serves
them, a browser without a session sent to sign in, a refusal shown as an error page, and each
download in the access log under the API's action names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from cspr_engine.accounts import service as accounts_service
from tests.exports.support import DOCX, SECTIONS, read_docx, read_markdown
from tests.factories import Api, Directory, access_events
from tests.web.test_router import WebClient, page


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests are about pages, not password hashing (tests/accounts covers that).
    monkeypatch.setattr(
        accounts_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


@pytest.fixture
def people(app: FastAPI, directory: Directory) -> Iterator[Any]:
    made: list[WebClient] = []

    def make(email: str | None = None) -> WebClient:
        client = WebClient(app)
        made.append(client)
        return client.sign_in(email) if email else client

    yield make
    for client in made:
        client.http.close()


@pytest.fixture
def case(api: Api) -> dict[str, Any]:
    return api.create_case()


def downloads(client: WebClient, case: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Each link in the case page's downloads: its visible text, the words only a screen
    reader hears, its address."""
    doc = page(client.get(f"/ui/cases/{case['reference']}"))
    return [
        (
            "".join(c for c in a.children if isinstance(c, str)).strip(),
            " ".join(s.text for s in a.find_all("span", cls="govuk-visually-hidden")),
            a.attrs["href"],
        )
        for a in doc.by_id("case-downloads").find_all("a")
    ]


def pack_links(reference: str) -> list[tuple[str, str, str]]:
    base = f"/ui/cases/{reference}/submission-pack?format="
    return [
        ("Markdown", "submission pack", base + "md"),
        ("Word", "submission pack", base + "docx"),
    ]


@pytest.mark.parametrize("who", ["chair", "business", "scrutineer"])
def test_those_who_may_export_see_both_downloads(
    people: Any, case: dict[str, Any], who: str
) -> None:
    links = downloads(people(f"{who}@tw.example"), case)
    assert links == [
        *pack_links(case["reference"]),
        ("Export the case record (JSON)", "", f"/ui/cases/{case['reference']}/export"),
    ]


@pytest.mark.parametrize("who", ["dsp_police", "lsp_la", "qpd", "referrer"])
def test_other_readers_see_the_pack_alone(people: Any, case: dict[str, Any], who: str) -> None:
    assert downloads(people(f"{who}@tw.example"), case) == pack_links(case["reference"])


def test_the_pack_downloads_in_both_formats(
    people: Any, case: dict[str, Any], directory: Directory
) -> None:
    dsp = people("dsp_police@tw.example")
    md = dsp.get(f"/ui/cases/{case['reference']}/submission-pack?format=md")
    assert md.status_code == 200, md.text
    assert md.headers["content-type"] == "text/markdown; charset=utf-8"
    assert md.headers["content-disposition"] == (
        f'attachment; filename="{case["reference"]}-rapid-review-pack.md"'
    )
    assert md.headers["cache-control"] == "no-store"
    word = dsp.get(f"/ui/cases/{case['reference']}/submission-pack?format=docx")
    assert word.status_code == 200, word.text
    assert word.headers["content-type"] == DOCX
    assert word.headers["content-disposition"] == (
        f'attachment; filename="{case["reference"]}-rapid-review-pack.docx"'
    )
    read = read_markdown(md.text)
    assert read == read_docx(word.content)
    assert [h for level, h in read.headings if level == 2] == SECTIONS
    for response in (md, word):
        (row,) = access_events(request_id=response.headers["x-request-id"])
        assert (row["action"], row["case_id"], row["outcome"], row["actor_id"]) == (
            "case.submission_pack",
            case["id"],
            "allowed",
            directory.user_ids["TW"]["dsp_police"],
        )


def test_the_record_downloads_as_the_api_gives_it(
    people: Any, api: Api, case: dict[str, Any], directory: Directory
) -> None:
    response = people("business@tw.example").get(f"/ui/cases/{case['reference']}/export")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{case["reference"]}-record.json"'
    )
    assert response.headers["cache-control"] == "no-store"
    from_api = api.client.get(
        f"/api/v1/cases/{case['id']}/export", headers=api.headers("business")
    ).json()
    assert response.json() == from_api
    (row,) = access_events(request_id=response.headers["x-request-id"])
    assert (row["action"], row["outcome"], row["actor_id"]) == (
        "case.export",
        "allowed",
        directory.user_ids["TW"]["business"],
    )


def test_a_reader_who_may_not_export_gets_an_error_page(people: Any, case: dict[str, Any]) -> None:
    response = people("dsp_la@tw.example").get(f"/ui/cases/{case['reference']}/export")
    assert response.status_code == 403
    doc = page(response)
    assert "panel chair, the business unit or the scrutineer" in doc.text
    (row,) = access_events(request_id=response.headers["x-request-id"])
    assert (row["action"], row["outcome"], row["status"]) == ("case.export", "denied", 403)


@pytest.mark.parametrize("path", ["submission-pack?format=md", "export"])
def test_another_partnership_gets_page_not_found(
    people: Any, case: dict[str, Any], path: str
) -> None:
    response = people("chair@ot.example").get(f"/ui/cases/{case['reference']}/{path}")
    assert response.status_code == 404
    page(response)
    (row,) = access_events(request_id=response.headers["x-request-id"])
    assert (row["case_id"], row["outcome"]) == (case["id"], "denied")


@pytest.mark.parametrize("path", ["submission-pack?format=docx", "export"])
def test_without_a_session_the_browser_is_sent_to_sign_in(
    people: Any, case: dict[str, Any], path: str
) -> None:
    response = people().get(f"/ui/cases/{case['reference']}/{path}")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/ui/sign-in?next=")
    assert access_events(request_id=response.headers["x-request-id"]) == []


def test_an_unknown_format_is_an_error_page(people: Any, case: dict[str, Any]) -> None:
    response = people("chair@tw.example").get(
        f"/ui/cases/{case['reference']}/submission-pack?format=pdf"
    )
    assert response.status_code == 400
    page(response)
