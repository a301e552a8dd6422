"""The linked cases and sharing page over HTTP, without a browser: the links from both sides,
the forms to link, unlink, share and revoke, their errors beside their fields, and a shared
case as its grantee partnership sees it (a notice, no forms, every post refused)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import text

from cspr_engine.accounts import service as accounts_service
from cspr_engine.db import get_engine
from tests.factories import Api, Directory, access_events, snapshot
from tests.web.test_router import (
    Element,
    WebClient,
    error_summary,
    inline_errors,
    page,
    problem_text,
)

CHAIR = "chair@tw.example"
OT_CHAIR = "chair@ot.example"
LINKS = "SELECT * FROM case_links ORDER BY id"
SHARES = "SELECT * FROM case_shares ORDER BY id"


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pages, not password hashing, are under test here (tests/accounts covers that).
    monkeypatch.setattr(
        accounts_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


@pytest.fixture
def people(app: FastAPI, directory: Directory) -> Iterator[dict[str, WebClient]]:
    """Browsers signed in on demand: `people[email]`."""
    made: dict[str, WebClient] = {}

    class Lazy(dict[str, WebClient]):
        def __missing__(self, email: str) -> WebClient:
            made[email] = WebClient(app).sign_in(email)
            return made[email]

    yield Lazy()
    for b in made.values():
        b.http.close()


def rows(sql: str, **params: Any) -> list[dict[str, Any]]:
    with get_engine().connect() as conn:
        return [dict(r) for r in conn.execute(text(sql), params).mappings()]


def link_rows(doc: Element) -> dict[str, Element]:
    return {
        tr.attrs["data-linked-case"]: tr for tr in doc.find_all("tr") if "data-link-id" in tr.attrs
    }


def share_rows(doc: Element) -> dict[str, Element]:
    return {
        tr.attrs["data-partnership"]: tr for tr in doc.find_all("tr") if "data-share-id" in tr.attrs
    }


def add_link(api: Api, case: dict[str, Any], **body: Any) -> dict[str, Any]:
    response = api.client.post(
        f"/api/v1/cases/{case['id']}/links", json=body, headers=api.headers("chair")
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def share(api: Api, case: dict[str, Any], partnership: str = "OT") -> dict[str, Any]:
    response = api.client.post(
        f"/api/v1/cases/{case['id']}/shares",
        json={"partnership": partnership, "reason": "Home authority."},
        headers=api.headers("chair"),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


class TestTheLinksTable:
    def test_links_show_from_both_sides_with_the_other_case_as_a_link(
        self, api: Api, people: dict[str, WebClient]
    ) -> None:
        a = api.create_case()
        b = api.create_case(referring_agency="health")
        add_link(api, a, type="sibling", target=b["reference"], note="Twin brother")
        add_link(
            api,
            a,
            type="other_partnership",
            external_partnership="Norfolk SCP",
            external_reference="NSCP-12",
        )
        doc = page(people[CHAIR].get(f"/ui/cases/{a['reference']}/links"))
        assert doc.find("h1").text == "Referred"
        shown = link_rows(doc)
        assert sorted(shown) == sorted([b["reference"], "NSCP-12"])
        sibling = shown[b["reference"]]
        assert sibling.attrs["data-link-type"] == "sibling"
        assert sibling.attrs["data-direction"] == "outgoing"
        assert sibling.find("a", href=f"/ui/cases/{b['reference']}").text == b["reference"]
        assert "Twin brother" in sibling.text
        assert "Sibling" in sibling.text
        assert "Norfolk SCP" in shown["NSCP-12"].text
        assert doc.find("table", id="links").find("caption").text.startswith("Cases linked to")

        other_side = page(people[CHAIR].get(f"/ui/cases/{b['reference']}/links"))
        (incoming,) = link_rows(other_side).values()
        assert incoming.attrs["data-direction"] == "incoming"
        assert incoming.attrs["data-linked-case"] == a["reference"]
        assert "Added on the other case" in incoming.text

    def test_a_reader_who_cannot_see_the_other_case_gets_its_reference_alone(
        self, api: Api, people: dict[str, WebClient]
    ) -> None:
        a = api.create_case()  # referred by the police: the police referrer reads it
        b = api.create_case(referring_agency="health")
        add_link(api, a, type="sibling", target=b["reference"], note="Twin brother")
        doc = page(people["referrer@tw.example"].get(f"/ui/cases/{a['reference']}/links"))
        row = link_rows(doc)[b["reference"]]
        assert not row.find_all("a")
        assert "You cannot see this case" in row.text
        assert "Twin brother" not in row.text
        # A referrer neither links nor shares: no forms, no remove buttons.
        assert not doc.has_id("add-link-form")
        assert not doc.has_id("share-form")
        assert not [f for f in doc.find_all("form") if f.attrs["action"].startswith("/ui/cases/")]

    def test_no_links_and_no_shares(self, api: Api, people: dict[str, WebClient]) -> None:
        a = api.create_case()
        doc = page(people[CHAIR].get(f"/ui/cases/{a['reference']}/links"))
        assert doc.by_id("no-links").text == "No case is linked to this one."
        assert doc.by_id("no-shares").text == "The case is not shared with another partnership."
        current = doc.find("a", href=f"/ui/cases/{a['reference']}/links")
        assert current.attrs["aria-current"] == "page"

    def test_the_page_is_in_the_access_log(
        self, api: Api, people: dict[str, WebClient], directory: Directory
    ) -> None:
        a = api.create_case()
        response = people[CHAIR].get(f"/ui/cases/{a['reference']}/links")
        (row,) = access_events(request_id=response.headers["x-request-id"])
        assert row["case_id"] == a["id"]
        assert row["actor_id"] == directory.user_ids["TW"]["chair"]
        assert row["outcome"] == "allowed"

    def test_another_partnerships_case_is_not_found(
        self, api: Api, people: dict[str, WebClient]
    ) -> None:
        a = api.create_case()
        response = people[OT_CHAIR].get(f"/ui/cases/{a['reference']}/links")
        assert response.status_code == 404
        assert a["reference"] not in response.text


class TestTheLinkForm:
    def test_a_link_through_the_form_is_stored_and_announced(
        self, api: Api, people: dict[str, WebClient]
    ) -> None:
        a = api.create_case()
        b = api.create_case()
        chair = people[CHAIR]
        url = f"/ui/cases/{a['reference']}/links"
        response = chair.post(
            url, {"type": "same_incident", "target": b["reference"].lower(), "note": "Cousins"}
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == url
        (stored,) = rows("SELECT * FROM case_links")
        assert stored["type"] == "same_incident"
        assert stored["note"] == "Cousins"
        doc = page(chair.get(url))
        assert doc.by_id("done").text == "Link added"
        assert list(link_rows(doc)) == [b["reference"]]

    def test_errors_are_shown_beside_their_fields_and_nothing_is_stored(
        self, api: Api, people: dict[str, WebClient]
    ) -> None:
        a = api.create_case()
        before = snapshot(a["id"])
        response = people[CHAIR].post(
            f"/ui/cases/{a['reference']}/links",
            {"external_reference": "943 476 5919", "note": "Typed note"},
        )
        assert response.status_code == 422
        doc = page(response)
        assert doc.find("title").text.startswith("Error:")
        errors = inline_errors(doc)
        assert errors["link-type-error"] == "Select how the case is linked"
        assert "NHS number" in errors["link-external-reference-error"]
        anchors = [href for href, _ in error_summary(doc)]
        assert anchors == ["#link-type", "#link-external-reference"]
        # What was typed is kept (the NHS number too: it is the user's own, on their screen).
        assert doc.by_id("link-note").text == "Typed note"
        assert snapshot(a["id"]) == before
        assert rows("SELECT * FROM case_links") == []

    def test_the_shape_rule_and_an_unknown_reference_are_field_errors(
        self, api: Api, people: dict[str, WebClient]
    ) -> None:
        a = api.create_case()
        chair = people[CHAIR]
        url = f"/ui/cases/{a['reference']}/links"
        missing = page(chair.post(url, {"type": "sibling"}))
        assert inline_errors(missing) == {"link-target-error": "Enter the case reference"}
        theirs = api.create_case(partnership="OT")
        unknown = chair.post(url, {"type": "sibling", "target": theirs["reference"]})
        assert unknown.status_code == 422
        assert inline_errors(page(unknown)) == {
            "link-target-error": "No case of this partnership with that reference is visible to you"
        }
        assert rows("SELECT * FROM case_links") == []

    def test_a_duplicate_is_a_problem_at_the_top(
        self, api: Api, people: dict[str, WebClient]
    ) -> None:
        a = api.create_case()
        b = api.create_case()
        add_link(api, b, type="sibling", target=a["reference"])
        response = people[CHAIR].post(
            f"/ui/cases/{a['reference']}/links", {"type": "sibling", "target": b["reference"]}
        )
        assert response.status_code == 409
        assert "already linked" in problem_text(page(response))
        assert len(rows("SELECT * FROM case_links")) == 1

    def test_a_role_that_does_not_link_has_no_form_and_is_refused(
        self, api: Api, people: dict[str, WebClient]
    ) -> None:
        a = api.create_case()
        b = api.create_case()
        qpd = people["qpd@tw.example"]
        url = f"/ui/cases/{a['reference']}/links"
        assert not page(qpd.get(url)).has_id("add-link-form")
        before = snapshot(a["id"])
        response = qpd.post(url, {"type": "sibling", "target": b["reference"]})
        assert response.status_code == 403
        assert "business_unit, panel_chair" in problem_text(page(response))
        assert snapshot(a["id"]) == before

    def test_without_the_csrf_token_nothing_is_stored(
        self, api: Api, people: dict[str, WebClient]
    ) -> None:
        a = api.create_case()
        b = api.create_case()
        response = people[CHAIR].post_without_csrf(
            f"/ui/cases/{a['reference']}/links", {"type": "sibling", "target": b["reference"]}
        )
        assert response.status_code == 403
        assert rows("SELECT * FROM case_links") == []

    def test_remove_a_link(self, api: Api, people: dict[str, WebClient]) -> None:
        a = api.create_case()
        b = api.create_case()
        created = add_link(api, a, type="sibling", target=b["reference"])
        chair = people[CHAIR]
        url = f"/ui/cases/{b['reference']}/links"
        doc = page(chair.get(url))
        button = doc.find("button", data_remove_link=created["id"])
        assert button.text == f"Remove the link to {a['reference']}"
        response = chair.post(f"{url}/{created['id']}/remove")
        assert response.status_code == 303
        (stored,) = rows("SELECT * FROM case_links")
        assert stored["removed_at"] is not None
        after = page(chair.get(url))
        assert after.by_id("done").text == "Link removed"
        assert link_rows(after) == {}
        again = chair.post(f"{url}/{created['id']}/remove")
        assert again.status_code == 409
        assert problem_text(page(again)) == "The link was already removed."


class TestSharing:
    def test_the_form_offers_the_other_partnerships_and_shares(
        self, api: Api, people: dict[str, WebClient]
    ) -> None:
        a = api.create_case()
        chair = people[CHAIR]
        url = f"/ui/cases/{a['reference']}/links"
        doc = page(chair.get(url))
        options = [o.attrs["value"] for o in doc.by_id("share-partnership").find_all("option")]
        assert options == ["", "OT"]
        response = chair.post(
            f"/ui/cases/{a['reference']}/shares", {"partnership": "OT", "reason": "Home LA."}
        )
        assert response.status_code == 303, response.text
        (stored,) = rows("SELECT * FROM case_shares")
        assert stored["reason"] == "Home LA."
        after = page(chair.get(url))
        assert after.by_id("done").text == "Case shared with OT, read-only"
        row = share_rows(after)["OT"]
        assert row.attrs["data-active"] == "true"
        assert "Home LA." in row.text
        assert after.find("button", data_revoke="OT")

    def test_errors_are_shown_beside_their_fields(
        self, api: Api, people: dict[str, WebClient]
    ) -> None:
        a = api.create_case()
        response = people[CHAIR].post(f"/ui/cases/{a['reference']}/shares", {"partnership": ""})
        assert response.status_code == 422
        doc = page(response)
        assert inline_errors(doc) == {
            "share-partnership-error": "Select the partnership to share with",
            "share-reason-error": "Enter why the case is shared",
        }
        assert rows("SELECT * FROM case_shares") == []

    def test_a_second_share_with_the_same_partnership_is_a_problem(
        self, api: Api, people: dict[str, WebClient]
    ) -> None:
        a = api.create_case()
        share(api, a)
        response = people[CHAIR].post(
            f"/ui/cases/{a['reference']}/shares", {"partnership": "OT", "reason": "Again."}
        )
        assert response.status_code == 409
        assert "already shared with OT" in problem_text(page(response))
        assert len(rows("SELECT * FROM case_shares")) == 1

    def test_revoke_and_the_grantee_no_longer_reads(
        self, api: Api, people: dict[str, WebClient]
    ) -> None:
        a = api.create_case()
        granted = share(api, a)
        assert people[OT_CHAIR].get(f"/ui/cases/{a['reference']}").status_code == 200
        chair = people[CHAIR]
        url = f"/ui/cases/{a['reference']}/shares/{granted['id']}/revoke"
        empty = chair.post(url, {"reason": ""})
        assert empty.status_code == 422
        doc = page(empty)
        assert inline_errors(doc) == {
            f"revoke-{granted['id']}-reason-error": "Enter why the share is revoked"
        }
        assert doc.by_id(f"revoke-{granted['id']}").attrs.get("open") is not None
        response = chair.post(url, {"reason": "Child moved back."})
        assert response.status_code == 303
        after = page(chair.get(f"/ui/cases/{a['reference']}/links"))
        row = share_rows(after)["OT"]
        assert row.attrs["data-active"] == "false"
        assert "Child moved back." in row.text
        assert not after.find_all("button", data_revoke="OT")
        assert people[OT_CHAIR].get(f"/ui/cases/{a['reference']}").status_code == 404
        assert people[OT_CHAIR].get(f"/ui/cases/{a['reference']}/links").status_code == 404


class TestTheGranteesView:
    def test_the_case_page_and_the_links_page_say_it_is_shared_read_only(
        self, api: Api, people: dict[str, WebClient]
    ) -> None:
        a = api.create_case()
        share(api, a)
        ot = people[OT_CHAIR]
        for path in ("", "/links"):
            doc = page(ot.get(f"/ui/cases/{a['reference']}{path}"))
            notice = doc.by_id("shared-notice")
            assert notice.attrs["data-shared-by"] == "TW"
            assert "Shared with your partnership by TW: read-only" in notice.text
        links = page(ot.get(f"/ui/cases/{a['reference']}/links"))
        assert not links.has_id("add-link-form")
        assert not links.has_id("share-form")
        assert list(share_rows(links)) == ["OT"]
        # The owner sees no such notice.
        own = page(people[CHAIR].get(f"/ui/cases/{a['reference']}"))
        assert not own.has_id("shared-notice")

    def test_the_shared_case_is_on_the_grantees_dashboard(
        self, api: Api, people: dict[str, WebClient]
    ) -> None:
        a = api.create_case()
        share(api, a)
        doc = page(people[OT_CHAIR].get("/ui"))
        assert doc.find_all("a", href=f"/ui/cases/{a['reference']}")
        referrer = page(people["referrer@ot.example"].get("/ui"))
        assert not referrer.find_all("a", href=f"/ui/cases/{a['reference']}")

    def test_every_post_is_refused_and_changes_nothing(
        self, api: Api, people: dict[str, WebClient]
    ) -> None:
        a = api.create_case()
        b = api.create_case()
        created = add_link(api, a, type="sibling", target=b["reference"])
        granted = share(api, a)
        before = (
            snapshot(a["id"]),
            rows("SELECT * FROM case_links"),
            rows("SELECT * FROM case_shares"),
        )
        ot = people[OT_CHAIR]
        base = f"/ui/cases/{a['reference']}"
        for url, data in (
            (f"{base}/links", {"type": "sibling", "target": b["reference"]}),
            (f"{base}/links/{created['id']}/remove", {}),
            (f"{base}/shares", {"partnership": "TW", "reason": "Onward."}),
            (f"{base}/shares/{granted['id']}/revoke", {"reason": "Ours."}),
        ):
            response = ot.post(url, data)
            assert response.status_code == 403, url
            assert "shared with your partnership to read" in page(response).text, url
        after = (
            snapshot(a["id"]),
            rows("SELECT * FROM case_links"),
            rows("SELECT * FROM case_shares"),
        )
        assert after == before

    def test_the_grantees_referrer_reads_nothing(
        self, api: Api, people: dict[str, WebClient]
    ) -> None:
        a = api.create_case()
        share(api, a)
        for path in ("", "/links"):
            response = people["referrer@ot.example"].get(f"/ui/cases/{a['reference']}{path}")
            assert response.status_code == 404
