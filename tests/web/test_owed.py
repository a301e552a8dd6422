"""The dashboard's "What your agency owes": open information returns asked of the user's agency
and open improvement actions it owns, overdue first, then the soonest due."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from tests.actions.support import add_action
from tests.factories import Api, Directory
from tests.web.test_router import WebClient, new_case, page


@pytest.fixture
def police(app: FastAPI, directory: Directory) -> WebClient:
    return WebClient(app).sign_in("referrer@tw.example")


def ask(api: Api, case_id: str, agency: str, due_on: str) -> None:
    response = api.client.post(
        f"/api/v1/cases/{case_id}/information-requests",
        json={"agencies": [agency], "asked": "Your involvement, please.", "due_on": due_on},
        headers=api.headers("business"),
    )
    assert response.status_code == 201, response.text


def test_the_police_see_what_their_agency_owes_overdue_first(
    api: Api, police: WebClient, clock: object
) -> None:
    first = new_case(api, referring_agency="health")
    second = new_case(api, referring_agency="health")
    ask(api, first["id"], "police", "2026-06-17")  # due today: amber
    ask(api, second["id"], "police", "2026-06-30")  # 9 working days away: green
    ask(api, second["id"], "health", "2026-06-18")  # health's, not theirs
    add_action(api, first["id"], owner_agency="police", due_on="2026-06-16")  # overdue: red
    add_action(api, first["id"], owner_agency="education", due_on="2026-06-16")  # not theirs

    owed = page(police.get("/ui")).by_id("owed")
    rows = [
        (r.attrs["data-case"], r.attrs["data-rag"], r.text)
        for r in owed.find_all("tr")
        if "data-rag" in r.attrs
    ]
    assert [(case, rag) for case, rag, _ in rows] == [
        (first["reference"], "red"),
        (first["reference"], "amber"),
        (second["reference"], "green"),
    ]
    assert "Improvement action A1" in rows[0][2]
    assert "was due 16 June 2026" in rows[0][2]
    assert "Information return 1" in rows[1][2]
    assert "due 30 June 2026" in rows[2][2]


def test_nothing_owed_shows_no_section(api: Api, app: FastAPI, directory: Directory) -> None:
    case = new_case(api)
    ask(api, case["id"], "health", "2026-06-30")
    chair = WebClient(app).sign_in("chair@tw.example")
    assert page(chair.get("/ui")).find_all(id_="owed") == []
    police = WebClient(app).sign_in("referrer@tw.example")
    assert page(police.get("/ui")).find_all(id_="owed") == []
