"""Linked cases over the API: typed links shown from both sides, refused duplicates, soft
removal, the audit events on both cases, and what a reader who cannot see the other case is
shown (its reference, nothing of its content)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from cspr_engine.db import get_engine
from tests.factories import Api, assert_problem, snapshot


def link(
    api: Api,
    case: dict[str, Any],
    who: str = "chair",
    partnership: str = "TW",
    **body: Any,
) -> httpx.Response:
    return api.client.post(
        f"/api/v1/cases/{case['id']}/links", json=body, headers=api.headers(who, partnership)
    )


def links_of(api: Api, case: dict[str, Any], who: str = "chair", **params: Any) -> list[Any]:
    response = api.client.get(
        f"/api/v1/cases/{case['reference']}/links", params=params, headers=api.headers(who)
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def link_rows() -> list[dict[str, Any]]:
    with get_engine().connect() as conn:
        return [dict(r) for r in conn.execute(text("SELECT * FROM case_links")).mappings()]


def events_of(api: Api, case: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in api.events(case["id"], who="chair") if e["kind"] == kind]


@pytest.fixture
def two(api: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    return api.create_case(), api.create_case(referring_agency="health")


class TestAddLink:
    def test_a_sibling_link_by_reference_shows_on_both_cases_and_is_audited_on_both(
        self, api: Api, two: tuple[dict[str, Any], dict[str, Any]], directory: Any
    ) -> None:
        a, b = two
        response = link(api, a, type="sibling", target=b["reference"].lower(), note="Brother")
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["type"] == "sibling"
        assert body["direction"] == "outgoing"
        assert body["case"] == {
            "reference": b["reference"],
            "visible": True,
            "id": b["id"],
            "state": "referred",
            "state_label": "Referred",
        }
        assert body["note"] == "Brother"
        assert body["created_by"] == directory.user_ids["TW"]["chair"]
        assert body["removed_at"] is None
        assert response.headers["etag"] == '"2"'
        assert response.headers["location"] == f"/api/v1/cases/{a['id']}/links/{body['id']}"

        (incoming,) = links_of(api, b)
        assert incoming["id"] == body["id"]
        assert incoming["direction"] == "incoming"
        assert incoming["case"]["reference"] == a["reference"]
        assert incoming["case"]["id"] == a["id"]
        assert incoming["note"] == "Brother"
        (outgoing,) = links_of(api, a)
        assert outgoing == body

        # Each case moved to its next version, with the event on its own timeline.
        assert api.get_case(a["id"])["version"] == 2
        assert api.get_case(b["id"])["version"] == 2
        (on_a,) = events_of(api, a, "link.added")
        assert on_a["data"] == {
            "link_id": body["id"],
            "type": "sibling",
            "linked_case": b["reference"],
            "direction": "outgoing",
        }
        assert on_a["seq"] == 2
        assert on_a["from_state"] == on_a["to_state"] == "referred"
        (on_b,) = events_of(api, b, "link.added")
        assert on_b["data"]["linked_case"] == a["reference"]
        assert on_b["data"]["direction"] == "incoming"
        (row,) = link_rows()
        assert str(row["target_case_id"]).replace("-", "") == b["id"].replace("-", "")

    def test_a_target_by_id_and_a_business_unit_user(
        self, api: Api, two: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        a, b = two
        response = link(api, a, who="business", type="same_incident", target=b["id"])
        assert response.status_code == 201, response.text
        assert response.json()["case"]["reference"] == b["reference"]

    def test_the_same_link_again_is_a_conflict_from_either_side(
        self, api: Api, two: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        a, b = two
        assert link(api, a, type="sibling", target=b["reference"]).status_code == 201
        before = (snapshot(a["id"]), snapshot(b["id"]), link_rows())
        again = link(api, a, type="sibling", target=b["id"])
        problem = assert_problem(again, 409, "/problems/duplicate-link")
        assert problem["type"] == "/problems/duplicate-link"
        reverse = link(api, b, type="sibling", target=a["reference"])
        assert_problem(reverse, 409, "/problems/duplicate-link")
        assert (snapshot(a["id"]), snapshot(b["id"]), link_rows()) == before
        # Another type between the same cases is another fact.
        assert link(api, b, type="same_incident", target=a["reference"]).status_code == 201
        assert len(link_rows()) == 2

    @pytest.mark.parametrize("by", ["id", "reference"])
    def test_another_partnerships_case_is_no_target(self, api: Api, by: str) -> None:
        a = api.create_case()
        theirs = api.create_case(partnership="OT")
        before = (snapshot(a["id"]), snapshot(theirs["id"]))
        response = link(api, a, type="sibling", target=theirs[by])
        problem = assert_problem(response, 404, "/problems/link-target-not-found")
        assert theirs["reference"] not in problem["detail"]
        assert (snapshot(a["id"]), snapshot(theirs["id"])) == before
        assert link_rows() == []

    def test_an_unknown_target_is_not_found(self, api: Api) -> None:
        a = api.create_case()
        response = link(api, a, type="sibling", target="TW-2026-0099")
        assert_problem(response, 404, "/problems/link-target-not-found")

    def test_a_case_is_not_linked_to_itself(self, api: Api) -> None:
        a = api.create_case()
        response = link(api, a, type="sibling", target=a["reference"])
        problem = assert_problem(response, 422, "/problems/invalid-data")
        assert problem["errors"][0]["loc"] == "target"
        assert "itself" in problem["errors"][0]["message"]
        assert snapshot(a["id"])["case"]["version"] == 1

    def test_another_partnerships_case_by_its_reference(self, api: Api) -> None:
        a = api.create_case()
        response = link(
            api,
            a,
            type="other_partnership",
            external_partnership="Norfolk SCP",
            external_reference="NSCP-2026-12",
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["case"] is None
        assert body["external_partnership"] == "Norfolk SCP"
        assert body["external_reference"] == "NSCP-2026-12"
        (event,) = events_of(api, a, "link.added")
        assert event["data"]["external_reference"] == "NSCP-2026-12"
        # The same external case again, written differently, is a duplicate.
        again = link(
            api,
            a,
            type="other_partnership",
            external_partnership="norfolk scp",
            external_reference="nscp-2026-12",
        )
        assert_problem(again, 409, "/problems/duplicate-link")

    @pytest.mark.parametrize(
        ("body", "locs"),
        [
            ({"type": "sibling"}, ["target"]),
            (
                {"type": "sibling", "target": "TW-2026-0002", "external_reference": "X-1"},
                ["external_reference"],
            ),
            ({"type": "other_partnership", "external_partnership": "NSCP"}, ["external_reference"]),
            (
                {
                    "type": "other_partnership",
                    "target": "TW-2026-0002",
                    "external_partnership": "NSCP",
                    "external_reference": "N-1",
                },
                ["target"],
            ),
            ({"type": "child_death_review"}, ["target"]),
            (
                {
                    "type": "child_death_review",
                    "target": "TW-2026-0002",
                    "external_partnership": "CDOP",
                    "external_reference": "C-1",
                },
                ["target"],
            ),
            (
                {
                    "type": "other_partnership",
                    "external_partnership": "tw",
                    "external_reference": "TW-2026-0002",
                },
                ["external_partnership"],
            ),
            ({"type": "cousin", "target": "TW-2026-0002"}, ["type"]),
            ({"type": "sibling", "target": "TW-2026-0002", "note": "x" * 2001}, ["note"]),
        ],
    )
    def test_the_shape_each_type_needs(
        self, api: Api, body: dict[str, Any], locs: list[str]
    ) -> None:
        a = api.create_case()
        api.create_case()
        response = link(api, a, **body)
        problem = assert_problem(response, 422, "/problems/invalid-data")
        assert [e["loc"] for e in problem["errors"]] == locs
        assert link_rows() == []
        assert snapshot(a["id"])["case"]["version"] == 1

    def test_a_child_death_review_held_elsewhere(self, api: Api) -> None:
        a = api.create_case()
        response = link(
            api,
            a,
            type="child_death_review",
            external_partnership="Tyne CDOP",
            external_reference="CDOP-44",
        )
        assert response.status_code == 201, response.text
        assert response.json()["external_reference"] == "CDOP-44"

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("external_reference", "9434765919"),
            ("external_reference", "943 476 5919"),
            ("external_partnership", "NHS 943-476-5919"),
            ("note", "Child NHS no 9434765919 see file"),
        ],
    )
    def test_an_nhs_number_is_refused_with_a_clear_message(
        self, api: Api, field: str, value: str
    ) -> None:
        a = api.create_case()
        body = {
            "type": "other_partnership",
            "external_partnership": "NSCP",
            "external_reference": "N-1",
            field: value,
        }
        response = link(api, a, **body)
        problem = assert_problem(response, 422, "/problems/invalid-data")
        (error,) = problem["errors"]
        assert error["loc"] == field
        assert "NHS number" in error["message"]
        assert value not in response.text
        assert link_rows() == []

    def test_an_identifying_key_is_refused_by_name(self, api: Api) -> None:
        a = api.create_case()
        response = link(
            api,
            a,
            type="other_partnership",
            external_partnership="NSCP",
            external_reference="N-1",
            nhs_number="9434765919",
        )
        problem = assert_problem(response, 422, "/problems/invalid-data")
        assert "nhs_number" in problem["detail"]
        assert "never stored" in problem["detail"]
        assert "9434765919" not in response.text

    def test_longer_runs_of_digits_and_references_are_not_nhs_numbers(self, api: Api) -> None:
        a = api.create_case()
        response = link(
            api,
            a,
            type="other_partnership",
            external_partnership="NSCP",
            external_reference="2026-06-17/12345678901",
            note="Call 0161 496 0000",
        )
        assert response.status_code == 201, response.text

    def test_an_id_with_ten_digits_in_it_is_no_nhs_number(self, api: Api) -> None:
        a = api.create_case()
        response = link(api, a, type="sibling", target="00000000-0000-4000-8000-001234567890")
        assert_problem(response, 404, "/problems/link-target-not-found")

    @pytest.mark.parametrize("who", ["dsp_la", "lsp_la", "referrer", "scrutineer", "qpd"])
    def test_roles_that_do_not_link_are_refused(
        self, api: Api, two: tuple[dict[str, Any], dict[str, Any]], who: str
    ) -> None:
        a, b = two
        before = (snapshot(a["id"]), snapshot(b["id"]))
        response = link(api, a, who=who, type="sibling", target=b["reference"])
        assert_problem(response, 403, "/problems/link-forbidden")
        assert (snapshot(a["id"]), snapshot(b["id"])) == before
        assert link_rows() == []

    def test_another_partnership_cannot_see_the_case(
        self, api: Api, two: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        a, b = two
        response = link(api, a, partnership="OT", type="sibling", target=b["reference"])
        assert_problem(response, 404, "/problems/case-not-found")
        listed = api.client.get(
            f"/api/v1/cases/{a['id']}/links", headers=api.headers("chair", "OT")
        )
        assert_problem(listed, 404, "/problems/case-not-found")

    def test_a_stale_if_match_changes_nothing(
        self, api: Api, two: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        a, b = two
        response = api.client.post(
            f"/api/v1/cases/{a['id']}/links",
            json={"type": "sibling", "target": b["reference"]},
            headers=api.headers("chair", **{"If-Match": '"7"'}),
        )
        assert_problem(response, 412, "/problems/stale-version")
        assert link_rows() == []
        fresh = api.client.post(
            f"/api/v1/cases/{a['id']}/links",
            json={"type": "sibling", "target": b["reference"]},
            headers=api.headers("chair", **{"If-Match": '"1"'}),
        )
        assert fresh.status_code == 201, fresh.text


class TestReadLinks:
    def test_a_reader_who_cannot_see_the_other_case_gets_its_reference_alone(
        self, api: Api, two: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        # The police referrer reads the case its agency referred (a), not the health one (b).
        a, b = two
        assert link(api, a, type="sibling", target=b["reference"], note="Twin").status_code == 201
        (shown,) = links_of(api, a, who="referrer")
        assert shown["case"] == {
            "reference": b["reference"],
            "visible": False,
            "id": None,
            "state": None,
            "state_label": None,
        }
        assert shown["note"] is None
        response = api.client.get(f"/api/v1/cases/{b['id']}/links", headers=api.headers("referrer"))
        assert_problem(response, 404, "/problems/case-not-found")

    def test_removed_links_only_when_asked_for(
        self, api: Api, two: tuple[dict[str, Any], dict[str, Any]], directory: Any
    ) -> None:
        a, b = two
        created = link(api, a, type="sibling", target=b["reference"]).json()
        removed = api.client.delete(
            f"/api/v1/cases/{a['id']}/links/{created['id']}", headers=api.headers("business")
        )
        assert removed.status_code == 200, removed.text
        assert links_of(api, a) == []
        assert links_of(api, b) == []
        (history,) = links_of(api, b, include_removed="true")
        assert history["id"] == created["id"]
        assert history["removed_at"] == "2026-06-17T09:00:00Z"
        assert history["removed_by"] == directory.user_ids["TW"]["business"]


class TestRemoveLink:
    def test_removal_keeps_the_row_and_is_audited_on_both_cases(
        self, api: Api, two: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        a, b = two
        created = link(api, a, type="sibling", target=b["reference"]).json()
        response = api.client.delete(
            f"/api/v1/cases/{a['reference']}/links/{created['id']}", headers=api.headers("chair")
        )
        assert response.status_code == 200, response.text
        assert response.json()["removed_at"] is not None
        assert response.headers["etag"] == '"3"'
        (row,) = link_rows()
        assert row["removed_at"] is not None
        (on_a,) = events_of(api, a, "link.removed")
        assert on_a["data"]["direction"] == "outgoing"
        assert on_a["data"]["linked_case"] == b["reference"]
        (on_b,) = events_of(api, b, "link.removed")
        assert on_b["data"]["direction"] == "incoming"
        assert api.get_case(b["id"])["version"] == 3

    def test_it_can_be_removed_from_the_other_side(
        self, api: Api, two: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        a, b = two
        created = link(api, a, type="same_incident", target=b["reference"]).json()
        response = api.client.delete(
            f"/api/v1/cases/{b['id']}/links/{created['id']}", headers=api.headers("chair")
        )
        assert response.status_code == 200, response.text
        assert response.json()["direction"] == "incoming"
        assert links_of(api, a) == []

    def test_twice_is_a_conflict_and_a_link_can_be_added_again(
        self, api: Api, two: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        a, b = two
        created = link(api, a, type="sibling", target=b["reference"]).json()
        url = f"/api/v1/cases/{a['id']}/links/{created['id']}"
        assert api.client.delete(url, headers=api.headers("chair")).status_code == 200
        before = snapshot(a["id"])
        again = api.client.delete(url, headers=api.headers("chair"))
        assert_problem(again, 409, "/problems/link-already-removed")
        assert snapshot(a["id"]) == before
        assert link(api, a, type="sibling", target=b["reference"]).status_code == 201
        assert len(links_of(api, a)) == 1

    def test_a_link_of_another_case_or_no_link_is_not_found(
        self, api: Api, two: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        a, b = two
        c = api.create_case()
        created = link(api, a, type="sibling", target=b["reference"]).json()
        for url in (
            f"/api/v1/cases/{c['id']}/links/{created['id']}",
            f"/api/v1/cases/{a['id']}/links/00000000-0000-4000-8000-000000000000",
        ):
            assert_problem(
                api.client.delete(url, headers=api.headers("chair")),
                404,
                "/problems/link-not-found",
            )
        assert len(links_of(api, a)) == 1

    def test_a_role_that_does_not_link_cannot_remove(
        self, api: Api, two: tuple[dict[str, Any], dict[str, Any]]
    ) -> None:
        a, b = two
        created = link(api, a, type="sibling", target=b["reference"]).json()
        before = snapshot(a["id"])
        response = api.client.delete(
            f"/api/v1/cases/{a['id']}/links/{created['id']}", headers=api.headers("qpd")
        )
        assert_problem(response, 403, "/problems/link-forbidden")
        assert snapshot(a["id"]) == before
        assert links_of(api, a)[0]["removed_at"] is None
