"""No text a request brings may hold an NHS number (the product never stores one): what passes
the NHS number check (ten digits, modulus 11) is refused with a plain message naming the
field, and nothing is stored; ten digits that fail the check, and longer runs, pass."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cspr_engine.kit.schemas import holds_nhs_number, is_nhs_number
from tests.factories import Api, assert_problem, referral, set_password, sign_in, snapshot

CASES = "/api/v1/cases"
NOTIFY = {"notified_on": "2026-06-12", "panel_reference": "CSPRP-1"}


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("9434765919", True),
        ("4010232137", True),
        ("4505577104", True),
        ("9434765918", False),  # one digit off
        ("1234567890", False),  # its check digit would be 10: never valid
        ("943476591", False),  # nine digits
        ("94347659190", False),  # eleven
    ],
)
def test_the_modulus_11_check(digits: str, valid: bool) -> None:
    assert is_nhs_number(digits) is valid


def test_the_check_digit_by_hand() -> None:
    # 4 0 1 0 2 3 2 1 3 weighted 10..2: 40+0+8+0+12+15+8+3+6 = 92; 92 mod 11 = 4; 11-4 = 7.
    assert is_nhs_number("4010232137")
    assert not any(is_nhs_number(f"401023213{d}") for d in "012345689")


@pytest.mark.parametrize(
    ("text", "holds"),
    [
        ("NHS number 943 476 5919, seen at A&E", True),
        ("ref 943-476-5919", True),
        ("9434765919", True),
        ("case 123e4567-e89b-12d3-a456-426614174000", False),  # part of a UUID
        ("tel 01952 385000", False),  # a phone number
        ("order 94347659190", False),  # part of a longer number
        ("POL-2026-118", False),
    ],
)
def test_where_a_number_stands_in_text(text: str, holds: bool) -> None:
    assert holds_nhs_number(text) is holds


@pytest.fixture
def baseline(api: Api) -> Iterator[str]:
    case = api.create_case()
    before = snapshot(case["id"])
    yield case["id"]
    assert snapshot(case["id"]) == before


@pytest.mark.parametrize(
    ("body", "loc", "field"),
    [
        (referral(summary="Admitted; NHS number 943 476 5919."), "body", "summary"),
        (referral(partner_reference="9434765919"), "body", "partner_reference"),
        # A nested part of the body checks its own text, and its error is at its place.
        (referral(child={"age_years": 2, "ethnicity": "4010232137"}), "child", "ethnicity"),
    ],
    ids=["summary", "partner-reference", "child"],
)
def test_a_referral_holding_an_nhs_number_is_refused(
    api: Api, baseline: str, body: dict[str, Any], loc: str, field: str
) -> None:
    response = api.client.post(CASES, json=body, headers=api.headers("chair"))
    problem = assert_problem(response, 422, "/problems/invalid-data")
    [error] = problem["errors"]
    assert error["loc"] == loc
    assert error["message"] == (
        f"{field} holds what looks like an NHS number (ten digits that pass the NHS number "
        "check); a child's NHS number is never stored here: refer to the child by your own "
        "case reference"
    )
    assert "9434765919" not in response.text  # the number itself is never echoed
    assert "943 476 5919" not in response.text
    listed = api.client.get(CASES, headers=api.headers("chair")).json()["items"]
    assert [c["id"] for c in listed] == [baseline]


def test_a_step_whose_data_or_comment_holds_one_is_refused(api: Api, baseline: str) -> None:
    for body, where in (
        ({"trigger": "notify_panel", "data": {**NOTIFY, "panel_reference": "4505577104"}},
         "data.panel_reference"),
        ({"trigger": "notify_panel", "data": NOTIFY, "comment": "child 450 557 7104"}, "comment"),
    ):  # fmt: skip
        response = api.client.post(
            f"{CASES}/{baseline}/transitions", json=body, headers=api.headers("superuser")
        )
        problem = assert_problem(response, 422, "/problems/invalid-data")
        assert problem["errors"][0]["message"].startswith(f"{where} holds what looks like")


def test_ten_digits_that_fail_the_check_are_taken(api: Api) -> None:
    case = api.create_case(summary="Police log 9434765918 and 1234567890.")
    assert case["state"] == "referred"


def test_a_password_of_ten_digits_is_a_password(api: Api, client: TestClient) -> None:
    """Sign-in carries a secret, not a record: it is never read as an NHS number."""
    set_password("chair@tw.example", "9434765919 and more")
    assert sign_in(client, "chair@tw.example", "9434765919 and more").status_code == 200
    assert_problem(sign_in(client, "chair@tw.example", "9434765919"), 401)
