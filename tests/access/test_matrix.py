"""The authorisation matrix, generated from one table: every endpoint, every user of the
directory, their own partnership or the other one, with the expected answer.

Each row is an endpoint and a side: `own` is the user of the case's partnership (TW), `other`
the user of the same name in OT acting on TW's case (or subscriptions). A cell is a status, or
for a listing `+` (200, the case is listed) or `-` (200, it is not). Every refusal must be the
endpoint's problem type, change nothing stored, and appear in the access log as denied.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from cspr_engine.kit.clock import FixedClock
from cspr_engine.scheduler import jobs
from tests.factories import (
    PEOPLE,
    Api,
    Directory,
    access_events,
    create_platform_admin,
    snapshot,
    stored,
)

# Column headings: the directory's users, abbreviated so that a row fits on a line.
COLUMNS = {
    "chair": "chair",
    "bu": "business",
    "dla": "dsp_la",
    "dpo": "dsp_police",
    "dhe": "dsp_health",
    "lsp": "lsp_la",
    "ref": "referrer",  # police, the agency that referred the case
    "red": "referrer_education",
    "scr": "scrutineer",
    "qpd": "qpd",
    "adm": "admin",
    "sup": "superuser",  # panel_chair, business_unit, dsp and referrer (local_authority)
}

MATRIX = """
                    chair bu  dla dpo dhe lsp ref red scr qpd adm sup
read_case     own   200   200 200 200 200 200 200 404 200 200 404 200
read_case     other 404   404 404 404 404 404 404 404 404 404 404 404
list_cases    own   +     +   +   +   +   +   +   -   +   +   -   +
list_cases    other -     -   -   -   -   -   -   -   -   -   -   -
events        own   200   200 200 200 200 200 200 404 200 200 404 200
events        other 404   404 404 404 404 404 404 404 404 404 404 404
deadlines     own   200   200 200 200 200 200 200 404 200 200 404 200
deadlines     other 404   404 404 404 404 404 404 404 404 404 404 404
transitions   own   200   200 200 200 200 200 200 404 200 200 404 200
transitions   other 404   404 404 404 404 404 404 404 404 404 404 404
transition    own   200   200 200 403 403 403 403 404 403 403 404 200
transition    other 404   404 404 404 404 404 404 404 404 404 404 404
vote          own   403   403 200 200 200 403 403 404 403 403 404 200
vote          other 404   404 404 404 404 404 404 404 404 404 404 404
extension     own   201   403 403 403 403 403 403 404 403 403 404 201
extension     other 404   404 404 404 404 404 404 404 404 404 404 404
access_log    own   200   403 403 403 403 403 403 404 200 403 404 200
access_log    other 404   404 404 404 404 404 404 404 404 404 404 404
alerts        own   +     +   +   +   +   -   -   -   -   -   -   +
alerts        other -     -   -   -   -   -   -   -   -   -   -   -
add_webhook   own   403   403 403 403 403 403 403 403 403 403 201 403
add_webhook   other 403   403 403 403 403 403 403 403 403 403 403 403
webhooks      own   403   403 403 403 403 403 403 403 403 403 200 403
webhooks      other 403   403 403 403 403 403 403 403 403 403 403 403
add_holiday   own   403   403 403 403 403 403 403 403 403 403 403 403
add_holiday   other 403   403 403 403 403 403 403 403 403 403 403 403
drop_holiday  own   403   403 403 403 403 403 403 403 403 403 403 403
drop_holiday  other 403   403 403 403 403 403 403 403 403 403 403 403
"""


def parse(table: str) -> dict[tuple[str, str], dict[str, str]]:
    lines = [line.split() for line in table.strip().splitlines()]
    heading, rows = lines[0], lines[1:]
    parsed: dict[tuple[str, str], dict[str, str]] = {}
    for endpoint, side, *cells in rows:
        assert len(cells) == len(heading), (endpoint, side)
        parsed[(endpoint, side)] = {COLUMNS[h]: c for h, c in zip(heading, cells, strict=True)}
    return parsed


ROWS = parse(MATRIX)

NOTIFY = {"notified_on": "2026-06-12", "panel_reference": "CSPRP-1"}
COMPLETE = {
    "completed_on": "2026-06-15",
    "recommendation": "lcspr",
    "criteria": ["a"],
    "rationale": "Criteria met.",
}
WEBHOOK = {
    "url": "https://receiver.example/hooks",
    "events": ["case.created"],
    "secret": "whsec_" + "bWF0cml4LXNlY3JldC0wMTIzNDU2Nzg5YWJj",
}


def referred(api: Api, clock: FixedClock) -> dict[str, Any]:
    """A police referral in TW, opened by the chair."""
    return api.create_case(who="chair")


def at_dsp_decision(api: Api, clock: FixedClock) -> dict[str, Any]:
    case = referred(api, clock)
    api.ok(case["id"], "notify_panel", NOTIFY)
    api.ok(case["id"], "complete_rapid_review", COMPLETE)
    return case


def breached(api: Api, clock: FixedClock) -> dict[str, Any]:
    """A referral whose panel notification was due yesterday: the sweep alerts the DSPs, the
    chair and the business unit."""
    case = api.create_case(who="chair", became_aware_on="2026-06-09")
    assert jobs.sweep_deadlines(clock) >= 1
    return case


def no_case(api: Api, clock: FixedClock) -> None:
    return None


HOLIDAY = {"date": "2026-06-26", "title": "Bank holiday for a national celebration"}


def counting_over_a_day(api: Api, clock: FixedClock) -> dict[str, Any]:
    """A referral whose rapid review counts over 26 June 2026: a holiday then would move it.
    (The calendar is national: no partnership's role changes it, whichever side it is on.)"""
    return api.create_case(who="chair", became_aware_on="2026-06-10")


def with_an_added_day(api: Api, clock: FixedClock) -> dict[str, Any]:
    case = counting_over_a_day(api, clock)
    token = create_platform_admin(
        clock.now(), email=f"root-{uuid.uuid4().hex[:8]}@platform.example"
    )
    added = api.client.post(
        "/api/v1/calendar/holidays", json=HOLIDAY, headers={"Authorization": f"Bearer {token}"}
    )
    assert added.status_code == 201, added.text
    return case


Call = Callable[[Api, dict[str, str], Any], httpx.Response]


@dataclass(frozen=True)
class Endpoint:
    setup: Callable[[Api, FixedClock], Any]
    call: Call
    forbidden: str = "/problems/forbidden"  # the problem type of this endpoint's 403
    # Listings answer 200 either way; this says whether the case is in the answer.
    listed: Callable[[httpx.Response, dict[str, Any]], bool] | None = None
    changes: bool = False  # a success changes the case: the next user gets a fresh one
    logged: bool = True  # reaches for a case, so it writes an access log row


def _get(suffix: str) -> Call:
    return lambda api, h, case: api.client.get(f"/api/v1/cases/{case['id']}{suffix}", headers=h)


def _case_listed(response: httpx.Response, case: dict[str, Any]) -> bool:
    return case["id"] in {item["id"] for item in response.json()["items"]}


def _alert_listed(response: httpx.Response, case: dict[str, Any]) -> bool:
    return case["id"] in {item["case_id"] for item in response.json()["items"]}


ENDPOINTS: dict[str, Endpoint] = {
    "read_case": Endpoint(referred, _get("")),
    "list_cases": Endpoint(
        referred,
        lambda api, h, case: api.client.get("/api/v1/cases?limit=500", headers=h),
        listed=_case_listed,
    ),
    "events": Endpoint(referred, _get("/events")),
    "deadlines": Endpoint(referred, _get("/deadlines")),
    "transitions": Endpoint(referred, _get("/transitions")),
    "transition": Endpoint(
        referred,
        lambda api, h, case: api.client.post(
            f"/api/v1/cases/{case['id']}/transitions",
            json={"trigger": "notify_panel", "data": NOTIFY},
            headers=h,
        ),
        forbidden="/problems/trigger-forbidden",
        changes=True,
    ),
    "vote": Endpoint(
        at_dsp_decision,
        lambda api, h, case: api.client.post(
            f"/api/v1/cases/{case['id']}/approvals/dsp_joint_decision",
            json={"decision": "agree", "rationale": "Criteria met."},
            headers=h,
        ),
        forbidden="/problems/not-a-gate-party",
        changes=True,
    ),
    "extension": Endpoint(
        referred,
        lambda api, h, case: api.client.post(
            f"/api/v1/cases/{case['id']}/deadlines/rapid_review/extensions",
            json={"new_due_on": "2026-07-31", "reason": "Records from another area."},
            headers=h,
        ),
        forbidden="/problems/extension-forbidden",
        changes=True,
    ),
    "access_log": Endpoint(referred, _get("/access"), forbidden="/problems/access-log-forbidden"),
    "alerts": Endpoint(
        breached,
        lambda api, h, case: api.client.get("/api/v1/alerts?limit=500", headers=h),
        listed=_alert_listed,
        logged=False,
    ),
    "add_webhook": Endpoint(
        no_case,
        lambda api, h, case: api.client.post(
            "/api/v1/webhooks",
            json={**WEBHOOK, "partnership": "TW"},
            headers=h,
        ),
        logged=False,
    ),
    "webhooks": Endpoint(
        no_case,
        lambda api, h, case: api.client.get("/api/v1/webhooks?partnership=TW", headers=h),
        logged=False,
    ),
    "add_holiday": Endpoint(
        counting_over_a_day,
        lambda api, h, case: api.client.post("/api/v1/calendar/holidays", json=HOLIDAY, headers=h),
        logged=False,
    ),
    "drop_holiday": Endpoint(
        with_an_added_day,
        lambda api, h, case: api.client.post(
            f"/api/v1/calendar/holidays/{HOLIDAY['date']}/withdrawal",
            json={"reason": "Added in error."},
            headers=h,
        ),
        logged=False,
    ),
}


def test_the_table_covers_every_endpoint_user_and_side() -> None:
    assert {endpoint for endpoint, _ in ROWS} == set(ENDPOINTS)
    assert set(ROWS) == {(e, side) for e in ENDPOINTS for side in ("own", "other")}
    assert set(COLUMNS.values()) == {key for key, _, _ in PEOPLE}


def _observe(
    endpoint: Endpoint, response: httpx.Response, case: dict[str, Any] | None, expected: str
) -> str:
    """The cell this response earns; where it is not the expected one, what went wrong."""
    status = response.status_code
    if endpoint.listed is not None and status == 200:
        assert case is not None
        return "+" if endpoint.listed(response, case) else "-"
    cell = str(status)
    if status in (403, 404):
        want = endpoint.forbidden if status == 403 else "/problems/case-not-found"
        problem = response.json()
        if problem.get("type") != want:
            return f"{cell} {problem.get('type')}"
    return cell


@pytest.mark.parametrize(("name", "side"), list(ROWS), ids=[f"{e}-{s}" for e, s in ROWS])
def test_authorisation_matrix(
    api: Api, directory: Directory, clock: FixedClock, name: str, side: str
) -> None:
    endpoint = ENDPOINTS[name]
    expected = ROWS[(name, side)]
    partnership = "TW" if side == "own" else "OT"
    case = endpoint.setup(api, clock)
    actual: dict[str, str] = {}
    for who, cell in expected.items():
        refused = cell in ("403", "404")
        before = (stored(), snapshot(case["id"]) if case else None)
        response = endpoint.call(api, api.headers(who, partnership), case)
        actual[who] = _observe(endpoint, response, case, cell)
        if refused and (stored(), snapshot(case["id"]) if case else None) != before:
            actual[who] += " and changed something"
        if endpoint.logged:
            rows = access_events(request_id=response.headers["x-request-id"])
            outcome = "denied" if refused else "allowed"
            if [
                (r["actor_id"], r["outcome"], r["status"], r["case_id"] if case else None)
                for r in rows
            ] != [
                (
                    directory.user_ids[partnership][who],
                    outcome,
                    response.status_code,
                    # A listing names no case; everything else names the one it reached for.
                    None if endpoint.listed or not case else case["id"],
                )
            ]:
                actual[who] += f" logged as {rows}"
        if endpoint.changes and response.status_code < 300:
            case = endpoint.setup(api, clock)  # the next user meets the case as it was
    assert actual == expected
