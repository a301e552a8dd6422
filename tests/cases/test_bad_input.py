"""Bad input: every refusal is an RFC 9457 problem with a 4xx, names the field at fault in
`errors[]`, never echoes the offending value, and changes nothing in the database."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cspr_engine.kit.pagination import encode_cursor
from tests.factories import Api, assert_problem, referral, snapshot

CASES = "/api/v1/cases"
BIG = "Z" * 100_000  # 100 kB of text: over every text limit
TOMORROW = "2026-06-18"  # the suite's today is 2026-06-17
INVALID = "/problems/invalid-data"
JSON_HEADERS = {"Content-Type": "application/json"}


def transitions(case_id: str) -> str:
    return f"{CASES}/{case_id}/transitions"


def locs(problem: dict[str, Any]) -> list[str]:
    return [e["loc"] for e in problem.get("errors") or []]


def advance(api: Api, case_id: str, target: str) -> None:
    """Walk a case along the main path (LCSPR, then publication) until it is in `target`."""
    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("rapid_review", "notify_panel", {"notified_on": "2026-06-12"}),
        (
            "dsp_decision",
            "complete_rapid_review",
            {
                "completed_on": "2026-06-15",
                "recommendation": "lcspr",
                "criteria": ["a"],
                "rationale": "Multi-agency learning is likely.",
            },
        ),
        ("awaiting_panel_response", "submit_rapid_review", {"submitted_on": "2026-06-16"}),
        (
            "lcspr_commissioning",
            "record_panel_response",
            {"received_on": "2026-06-16", "outcome": "agrees_lcspr"},
        ),
        (
            "lcspr_in_progress",
            "commission_lcspr",
            {
                "reviewer": "Independent reviewer",
                "methodology": "Systems review",
                "terms_of_reference_agreed_on": "2026-06-17",
                "scope_from": "2025-01-01",
                "scope_to": "2026-06-01",
            },
        ),
        (
            "final_report",
            "receive_final_report",
            {"received_on": "2026-06-17", "recommendations": "Four recommendations."},
        ),
        (
            "awaiting_publication",
            "send_to_panel_and_sos",
            {"sent_on": "2026-06-17", "planned_publication_on": "2026-07-01"},
        ),
    ]
    state = api.get_case(case_id)["state"]
    for reached, trigger, data in steps:
        if state == target:
            return
        if trigger == "submit_rapid_review":
            for dsp in ("dsp_la", "dsp_police", "dsp_health"):
                response = api.vote(case_id, dsp)
                assert response.status_code == 200, response.text
        state = api.ok(case_id, trigger, data)["state"]
        assert state == reached
    assert state == target, f"{target} is not on the path"


@pytest.fixture
def baseline(api: Api) -> Iterator[str]:
    """A case already in the database, to prove a refused request changed nothing."""
    case = api.create_case()
    before = snapshot(case["id"])
    yield case["id"]
    assert snapshot(case["id"]) == before, "a refused request changed the database"


def with_child(**fields: Any) -> dict[str, Any]:
    return referral(child={"age_years": 2, **fields})


def with_incident(**fields: Any) -> dict[str, Any]:
    incident = {"outcome": "serious_harm", "abuse_or_neglect": "suspected", **fields}
    return referral(incident=incident)


def without(*keys: str) -> dict[str, Any]:
    body = referral()
    for key in keys:
        del body[key]
    return body


# (id, body, the field errors[] must name, a value the problem must not echo)
BAD_REFERRALS: list[tuple[str, dict[str, Any], str, str | None]] = [
    ("date-as-number", referral(became_aware_on=20260610), "became_aware_on", "20260610"),
    ("date-unpadded", referral(became_aware_on="2026-6-1"), "became_aware_on", "2026-6-1"),
    ("date-impossible", referral(became_aware_on="2026-02-30"), "became_aware_on", "2026-02-30"),
    (
        "date-as-timestamp",
        referral(became_aware_on="2026-06-10T09:00:00Z"),
        "became_aware_on",
        "2026-06-10T09",
    ),
    ("date-in-future", referral(became_aware_on=TOMORROW), "became_aware_on", TOMORROW),
    (
        "incident-date-as-timestamp",
        with_incident(occurred_on="2026-06-08T23:30:00+01:00"),
        "incident.occurred_on",
        "23:30",
    ),
    ("bool-as-string", with_child(disability="true"), "child.disability", None),
    ("int-as-string", referral(child={"age_years": "2"}), "child.age_years", None),
    ("age-out-of-range", referral(child={"age_years": 26}), "child.age_years", None),
    ("text-as-int", referral(summary=8675309), "summary", "8675309"),
    ("reference-as-int", referral(partner_reference=4815162342), "partner_reference", "4815162342"),
    ("unknown-top-level", referral(priorty="high"), "priorty", None),
    ("unknown-in-incident", with_incident(location="Sentinel Park"), "incident.location",
     "Sentinel"),
    ("unknown-in-child", with_child(school="Sentinel Primary"), "child.school", "Sentinel"),
    ("missing-became-aware-on", without("became_aware_on"), "became_aware_on", None),
    ("missing-incident", without("incident"), "incident", None),
    ("missing-referring-agency", without("referring_agency"), "referring_agency", None),
    ("missing-incident-outcome", referral(incident={"abuse_or_neglect": "known"}),
     "incident.outcome", None),
    ("agency-out-of-range", referral(referring_agency="fire_brigade"), "referring_agency",
     "fire_brigade"),
    ("outcome-unknown", with_incident(outcome="unknown"), "incident.outcome", None),
    ("category-out-of-range", with_incident(categories=["arson"]), "incident.categories.0",
     "arson"),
    ("sex-out-of-range", with_child(sex="sentinel"), "child.sex", "sentinel"),
    ("long-summary", referral(summary=BIG), "summary", BIG[:200]),
    ("long-comment", referral(comment=BIG), "comment", BIG[:200]),
    ("long-partner-reference", referral(partner_reference=BIG), "partner_reference", BIG[:200]),
    ("long-ethnicity", with_child(ethnicity=BIG), "child.ethnicity", BIG[:200]),
    ("workflow-not-a-name", referral(workflow="../cspr"), "workflow", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "loc", "secret"),
    [pytest.param(body, loc, secret, id=name) for name, body, loc, secret in BAD_REFERRALS],
)
def test_bad_referral_is_422_naming_the_field(
    api: Api, baseline: str, body: dict[str, Any], loc: str, secret: str | None
) -> None:
    response = api.client.post(CASES, json=body, headers=api.headers("chair"))
    problem = assert_problem(response, 422, INVALID)
    assert loc in locs(problem), problem
    for error in problem["errors"]:
        assert set(error) == {"loc", "message", "type"}
        assert error["message"]
    if secret is not None:
        assert secret not in response.text


def test_future_awareness_says_why(api: Api, baseline: str) -> None:
    response = api.client.post(
        CASES, json=referral(became_aware_on=TOMORROW), headers=api.headers("chair")
    )
    problem = assert_problem(response, 422, INVALID)
    assert problem["errors"] == [
        {
            "loc": "became_aware_on",
            "message": "cannot be in the future (today is 2026-06-17)",
            "type": "future_date",
        }
    ]


def test_incident_after_awareness_is_refused(api: Api, baseline: str) -> None:
    body = referral(became_aware_on="2026-06-01")
    body["incident"]["occurred_on"] = "2026-06-05"
    response = api.client.post(CASES, json=body, headers=api.headers("chair"))
    problem = assert_problem(response, 422, INVALID)
    assert "occurred_on cannot be after became_aware_on" in problem["detail"]


@pytest.mark.parametrize(
    ("where", "key", "value"),
    [
        ("child", "name", "Jayden Sentinel"),
        ("child", "first_name", "Jayden"),
        ("child", "date_of_birth", "2024-02-29"),
        ("child", "dob", "2024-02-29"),
        ("child", "nhs_number", "943 476 5919"),
        ("child", "address", "1 Sentinel Street, Anytown"),
        ("child", "postcode", "SE1 7TP"),
        ("top", "name", "Jayden Sentinel"),
        ("top", "date_of_birth", "2024-02-29"),
        ("top", "nhs_number", "9434765919"),
        ("top", "address", "1 Sentinel Street, Anytown"),
    ],
)
def test_child_identifiers_are_refused_and_never_stored(
    api: Api, baseline: str, where: str, key: str, value: str
) -> None:
    body = with_child(**{key: value}) if where == "child" else referral(**{key: value})
    response = api.client.post(CASES, json=body, headers=api.headers("chair"))
    problem = assert_problem(response, 422, INVALID)
    assert locs(problem) == (["child"] if where == "child" else ["body"])
    message = problem["errors"][0]["message"]
    assert "never stored" in message
    assert key in message  # the key is named...
    assert value not in response.text  # ...the child's data is not


@pytest.mark.parametrize(
    ("content", "content_type", "status", "type_"),
    [
        pytest.param(b'{"became_aware_on": "2026-06-10",', "application/json", 400,
                     "/problems/malformed-body", id="truncated"),
        pytest.param(b"{'single': 'quotes'}", "application/json", 400,
                     "/problems/malformed-body", id="not-json"),
        pytest.param(b"\xff\xfe\x00{", "application/json", 400, "/problems/malformed-body",
                     id="not-utf8"),
        pytest.param(b"", "application/json", 400, "/problems/malformed-body", id="empty"),
        pytest.param(b"null", "application/json", 422, INVALID, id="null"),
        pytest.param(b"[]", "application/json", 422, INVALID, id="array"),
        pytest.param(b'[{"became_aware_on": "2026-06-10"}]', "application/json", 422, INVALID,
                     id="array-of-object"),
        pytest.param(b'"a referral"', "application/json", 422, INVALID, id="string"),
        pytest.param(b"42", "application/json", 422, INVALID, id="number"),
        pytest.param(b"true", "application/json", 422, INVALID, id="boolean"),
        pytest.param(b"became_aware_on=2026-06-10", "application/x-www-form-urlencoded", 415,
                     "/problems/unsupported-media-type", id="form"),
        pytest.param(b'{"became_aware_on": "2026-06-10"}', "text/plain", 415,
                     "/problems/unsupported-media-type", id="text-plain"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("target", ["create", "transition"])
def test_body_that_is_not_a_json_object(
    api: Api,
    baseline: str,
    target: str,
    content: bytes,
    content_type: str,
    status: int,
    type_: str,
) -> None:
    path = CASES if target == "create" else transitions(baseline)
    response = api.client.post(
        path, content=content, headers=api.headers("chair", **{"Content-Type": content_type})
    )
    problem = assert_problem(response, status, type_)
    if status == 422:
        assert locs(problem) == ["body"]


# -- transitions ------------------------------------------------------------------------------

NOTIFY = {"notified_on": "2026-06-12"}
NOT_NOTIFIABLE = {"rationale": "Threshold not met.", "alternative_learning": "none"}
RAPID_REVIEW = {
    "completed_on": "2026-06-15",
    "recommendation": "lcspr",
    "criteria": ["a"],
    "rationale": "Learning likely.",
}
COMMISSION = {
    "reviewer": "Independent reviewer",
    "methodology": "Systems review",
    "terms_of_reference_agreed_on": "2026-06-17",
    "scope_from": "2025-01-01",
    "scope_to": "2026-06-01",
}
PUBLISH = {"published_on": "2026-06-17", "url": "https://example.org/report"}


def fire_body(trigger: str, data: Any, **extra: Any) -> dict[str, Any]:
    return {"trigger": trigger, "data": data, **extra}


# (id, state, body, the field errors[] must name, a value the problem must not echo)
BAD_TRANSITIONS: list[tuple[str, str, dict[str, Any], str, str | None]] = [
    ("date-as-number", "referred", fire_body("notify_panel", {"notified_on": 20260612}),
     "data.notified_on", "20260612"),
    ("date-unpadded", "referred", fire_body("notify_panel", {"notified_on": "2026-6-1"}),
     "data.notified_on", "2026-6-1"),
    ("date-impossible", "referred", fire_body("notify_panel", {"notified_on": "2026-02-30"}),
     "data.notified_on", "2026-02-30"),
    ("date-as-timestamp", "referred",
     fire_body("notify_panel", {"notified_on": "2026-06-12T10:15:00Z"}), "data.notified_on",
     "10:15"),
    ("date-as-object", "referred", fire_body("notify_panel", {"notified_on": {"y": 2026}}),
     "data.notified_on", None),
    ("notified-tomorrow", "referred", fire_body("notify_panel", {"notified_on": TOMORROW}),
     "data.notified_on", TOMORROW),
    ("partners-informed-tomorrow", "referred",
     fire_body("notify_panel", {**NOTIFY, "partners_informed_on": TOMORROW}),
     "data.partners_informed_on", TOMORROW),
    ("string-as-int", "referred", fire_body("notify_panel", {**NOTIFY, "panel_reference": 31337}),
     "data.panel_reference", "31337"),
    ("text-as-int", "referred",
     fire_body("decide_not_notifiable", {**NOT_NOTIFIABLE, "rationale": 8675309}),
     "data.rationale", "8675309"),
    ("text-as-list", "referred",
     fire_body("decide_not_notifiable", {**NOT_NOTIFIABLE, "rationale": ["a", "b"]}),
     "data.rationale", None),
    ("unknown-top-level", "referred", fire_body("notify_panel", NOTIFY, notes="Sentinel note"),
     "notes", "Sentinel note"),
    ("unknown-in-data", "referred",
     fire_body("notify_panel", {**NOTIFY, "notifed_by": "Sentinel Officer"}), "data.notifed_by",
     "Sentinel Officer"),
    ("identifier-in-data", "referred",
     fire_body("notify_panel", {**NOTIFY, "name": "Jayden Sentinel"}), "data.name",
     "Jayden Sentinel"),
    ("missing-required", "referred", fire_body("notify_panel", {}), "data.notified_on", None),
    ("missing-rationale", "referred",
     fire_body("decide_not_notifiable", {"alternative_learning": "none"}), "data.rationale", None),
    ("missing-trigger", "referred", {"data": NOTIFY}, "trigger", None),
    ("empty-trigger", "referred", fire_body("", NOTIFY), "trigger", None),
    ("trigger-as-number", "referred", fire_body(7, NOTIFY), "trigger", None),
    ("data-as-list", "referred", fire_body("notify_panel", [NOTIFY]), "data", None),
    ("data-as-string", "referred", fire_body("notify_panel", "notified_on=2026-06-12"), "data",
     "notified_on=2026-06-12"),
    ("enum-out-of-range", "referred",
     fire_body("decide_not_notifiable", {**NOT_NOTIFIABLE, "alternative_learning": "maybe"}),
     "data.alternative_learning", "maybe"),
    ("long-comment", "referred", fire_body("notify_panel", NOTIFY, comment=BIG), "comment",
     BIG[:200]),
    ("long-rationale", "referred",
     fire_body("decide_not_notifiable", {**NOT_NOTIFIABLE, "rationale": BIG}), "data.rationale",
     BIG[:200]),
    ("long-panel-reference", "referred",
     fire_body("notify_panel", {**NOTIFY, "panel_reference": BIG}), "data.panel_reference",
     BIG[:200]),
    ("long-trigger", "referred", fire_body(BIG, NOTIFY), "trigger", BIG[:200]),
    ("recommendation-maybe", "rapid_review",
     fire_body("complete_rapid_review", {**RAPID_REVIEW, "recommendation": "maybe"}),
     "data.recommendation", "maybe"),
    ("criteria-e", "rapid_review",
     fire_body("complete_rapid_review", {**RAPID_REVIEW, "criteria": ["e"]}), "data.criteria.0",
     None),
    ("criteria-not-a-list", "rapid_review",
     fire_body("complete_rapid_review", {**RAPID_REVIEW, "criteria": "a"}), "data.criteria", None),
    ("criteria-empty-for-lcspr", "rapid_review",
     fire_body("complete_rapid_review", {**RAPID_REVIEW, "criteria": []}), "data.criteria", None),
    ("criteria-missing-for-lcspr", "rapid_review",
     fire_body("complete_rapid_review", {k: v for k, v in RAPID_REVIEW.items() if k != "criteria"}),
     "data.criteria", None),
    ("completed-tomorrow", "rapid_review",
     fire_body("complete_rapid_review", {**RAPID_REVIEW, "completed_on": TOMORROW}),
     "data.completed_on", TOMORROW),
    ("outcome-unknown", "awaiting_panel_response",
     fire_body("record_panel_response", {"received_on": "2026-06-16", "outcome": "unknown"}),
     "data.outcome", None),
    ("received-tomorrow", "awaiting_panel_response",
     fire_body("record_panel_response", {"received_on": TOMORROW, "outcome": "agrees_lcspr"}),
     "data.received_on", TOMORROW),
    ("scope-to-before-scope-from", "lcspr_commissioning",
     fire_body("commission_lcspr", {**COMMISSION, "scope_from": "2026-01-01",
                                    "scope_to": "2025-12-31"}),
     "data.scope_to", None),
    ("bool-as-string", "awaiting_publication",
     fire_body("withhold_publication", {"reason": "Criminal trial pending.",
                                        "improvements_only": "true"}),
     "data.improvements_only", None),
    ("bool-as-int", "awaiting_publication",
     fire_body("withhold_publication", {"reason": "Criminal trial pending.",
                                        "improvements_only": 1}),
     "data.improvements_only", None),
    ("url-not-http", "awaiting_publication",
     fire_body("publish", {**PUBLISH, "url": "javascript:alert(1)"}), "data.url", "alert(1)"),
    ("published-tomorrow", "awaiting_publication",
     fire_body("publish", {**PUBLISH, "published_on": TOMORROW}), "data.published_on", TOMORROW),
]  # fmt: skip


@pytest.mark.parametrize(
    ("state", "body", "loc", "secret"),
    [pytest.param(*rest, id=name) for name, *rest in BAD_TRANSITIONS],
)
def test_bad_transition_is_422_naming_the_field(
    api: Api, state: str, body: dict[str, Any], loc: str, secret: str | None
) -> None:
    case_id = api.create_case()["id"]
    advance(api, case_id, state)
    before = snapshot(case_id)
    response = api.client.post(transitions(case_id), json=body, headers=api.headers("superuser"))
    problem = assert_problem(response, 422, INVALID)
    assert loc in locs(problem), problem
    assert problem["detail"].startswith(loc) or f"; {loc}" in problem["detail"], problem
    if secret is not None:
        assert secret not in response.text
    assert snapshot(case_id) == before


def test_notified_tomorrow_is_named_in_errors(api: Api, baseline: str) -> None:
    response = api.fire(baseline, "notify_panel", {"notified_on": TOMORROW})
    problem = assert_problem(response, 422, INVALID)
    assert problem["errors"] == [
        {
            "loc": "data.notified_on",
            "message": "cannot be in the future (today is 2026-06-17)",
            "type": "future_date",
        }
    ]


def test_every_field_error_is_reported_at_once(api: Api, baseline: str) -> None:
    response = api.fire(
        baseline,
        "decide_not_notifiable",
        {"rationale": 1, "alternative_learning": "maybe", "extra": "x"},
    )
    problem = assert_problem(response, 422, INVALID)
    assert sorted(locs(problem)) == [
        "data.alternative_learning",
        "data.extra",
        "data.rationale",
    ]


def test_scope_to_before_scope_from_names_the_rule(api: Api) -> None:
    case_id = api.create_case()["id"]
    advance(api, case_id, "lcspr_commissioning")
    before = snapshot(case_id)
    data = {**COMMISSION, "scope_from": "2026-01-01", "scope_to": "2025-12-31"}
    problem = assert_problem(api.fire(case_id, "commission_lcspr", data), 422, INVALID)
    assert problem["errors"] == [
        {
            "loc": "data.scope_to",
            "message": "cannot be before scope_from (2026-01-01)",
            "type": "date_order",
        }
    ]
    assert snapshot(case_id) == before


def test_unknown_trigger_is_422_listing_the_known_ones(api: Api, baseline: str) -> None:
    response = api.fire(baseline, "launch_rocket", {})
    problem = assert_problem(response, 422, "/problems/unknown-trigger")
    assert "notify_panel" in problem["known_triggers"]
    assert "launch_rocket" not in problem["known_triggers"]
    assert problem["known_triggers"] == sorted(problem["known_triggers"])


def test_known_trigger_in_wrong_case_is_not_an_unknown_trigger(api: Api, baseline: str) -> None:
    # Case-sensitive: a trigger is a name, not a phrase to be guessed at.
    problem = assert_problem(
        api.fire(baseline, "Notify_Panel", NOTIFY), 422, "/problems/unknown-trigger"
    )
    assert "notify_panel" in problem["known_triggers"]


# -- case ids, routes, methods --------------------------------------------------------------

UNKNOWN_IDS = [
    pytest.param(str(uuid.uuid4()), id="random-uuid"),
    pytest.param(uuid.uuid4().hex, id="uuid-hex"),
    pytest.param("not-a-case", id="garbage"),
    pytest.param("TW-2026-9999", id="unused-reference"),
    pytest.param("TW-2026-0001-", id="reference-with-trailing-dash"),
    pytest.param("x" * 65, id="65-chars"),
    pytest.param("x" * 1000, id="1000-chars"),
    pytest.param("%20", id="blank"),
    pytest.param("'%20OR%201=1--", id="sql-ish"),
]


@pytest.mark.parametrize("key", UNKNOWN_IDS)
def test_unknown_case_is_404(api: Api, baseline: str, key: str) -> None:
    headers = api.headers("chair")
    for response in (
        api.client.get(f"{CASES}/{key}", headers=headers),
        api.client.get(f"{CASES}/{key}/events", headers=headers),
        api.client.post(transitions(key), json=fire_body("notify_panel", NOTIFY), headers=headers),
    ):
        problem = assert_problem(response, 404, "/problems/case-not-found")
        assert problem["detail"] == "No case with that id or reference is visible to you."


def test_another_partnerships_case_is_404_not_403(api: Api, baseline: str) -> None:
    reference = api.get_case(baseline)["reference"]
    for key in (baseline, reference):
        for response in (
            api.client.get(f"{CASES}/{key}", headers=api.headers("chair", "OT")),
            api.client.post(
                transitions(key),
                json=fire_body("notify_panel", NOTIFY),
                headers=api.headers("superuser", "OT"),
            ),
        ):
            assert_problem(response, 404, "/problems/case-not-found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/nothing-here"),
        ("GET", "/api/v2/cases"),
        ("POST", "/api/v1/case"),
        ("GET", "/api/v1/cases/{id}/nothing-here"),
        ("POST", "/api/v1/cases/{id}/transitions/notify_panel"),
        ("GET", "/nothing-here"),
    ],
)
def test_unknown_route_is_404_problem(api: Api, baseline: str, method: str, path: str) -> None:
    path = path.format(id=baseline)
    response = api.client.request(method, path, headers=api.headers("chair"), json={})
    problem = assert_problem(response, 404, "/problems/route-not-found")
    assert problem["detail"] == f"There is no endpoint at {path}."


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        # HEAD wherever GET is (kit.head).
        ("DELETE", "/api/v1/cases", {"GET", "HEAD", "POST"}),
        ("PUT", "/api/v1/cases", {"GET", "HEAD", "POST"}),
        ("DELETE", "/api/v1/cases/{id}", {"GET", "HEAD"}),
        ("PATCH", "/api/v1/cases/{id}", {"GET", "HEAD"}),
        ("PUT", "/api/v1/cases/{id}/transitions", {"GET", "HEAD", "POST"}),
        ("DELETE", "/api/v1/cases/{id}/events", {"GET", "HEAD"}),
    ],
)
def test_wrong_method_is_405_problem(
    api: Api, baseline: str, method: str, path: str, allow: set[str]
) -> None:
    path = path.format(id=baseline)
    response = api.client.request(method, path, headers=api.headers("chair"))
    problem = assert_problem(response, 405, "/problems/method-not-allowed")
    assert method in problem["detail"]
    # Starlette lists the methods of the first route on the path only (GET or POST, not both).
    offered = {m.strip() for m in response.headers["allow"].split(",")}
    assert offered, response.headers
    assert offered <= allow
    assert ("GET" in offered) == ("HEAD" in offered)
    assert method not in offered


# -- size ---------------------------------------------------------------------------------------

TWO_MIB = 2 * 1024 * 1024


def _oversized_body(trigger: str | None) -> bytes:
    if trigger is None:
        return json.dumps(referral(summary="S" * TWO_MIB)).encode()
    return json.dumps(fire_body(trigger, NOTIFY, comment="S" * TWO_MIB)).encode()


@pytest.mark.parametrize("target", ["create", "transition"])
def test_body_over_the_limit_is_413(api: Api, baseline: str, target: str) -> None:
    body = _oversized_body(None if target == "create" else "notify_panel")
    assert len(body) > TWO_MIB
    path = CASES if target == "create" else transitions(baseline)
    response = api.client.post(path, content=body, headers=api.headers("chair", **JSON_HEADERS))
    problem = assert_problem(response, 413, "/problems/payload-too-large")
    assert problem["detail"] == "The body may be at most 1048576 bytes."
    assert "SSSS" not in response.text


@pytest.mark.parametrize("target", ["create", "transition"])
def test_streamed_body_over_the_limit_is_413(api: Api, baseline: str, target: str) -> None:
    """Without Content-Length (chunked), the limit is counted as the body arrives."""
    body = _oversized_body(None if target == "create" else "notify_panel")

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    path = CASES if target == "create" else transitions(baseline)
    response = api.client.post(path, content=chunks(), headers=api.headers("chair", **JSON_HEADERS))
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "/problems/payload-too-large")


def test_body_just_under_the_limit_is_judged_on_its_content(api: Api, baseline: str) -> None:
    # 1 MiB minus a little: not refused for its size, but the summary is over 20,000 characters.
    body = referral(summary="S" * 1_000_000)
    response = api.client.post(CASES, json=body, headers=api.headers("chair"))
    problem = assert_problem(response, 422, INVALID)
    assert locs(problem) == ["summary"]


# -- authentication ---------------------------------------------------------------------------

BAD_AUTH = [
    pytest.param({}, id="absent"),
    pytest.param({"Authorization": ""}, id="empty"),
    pytest.param({"Authorization": "Bearer"}, id="bearer-no-token"),
    pytest.param({"Authorization": "Bearer    "}, id="bearer-blank"),
    pytest.param({"Authorization": "Basic Y2hhaXI6cGFzc3dvcmQ="}, id="basic"),
    pytest.param({"Authorization": "Token sentinel-token-value"}, id="other-scheme"),
    pytest.param({"Authorization": "Bearer sentinel-token-value"}, id="unknown-token"),
    pytest.param({"Authorization": "Bearer " + "t" * 5000}, id="huge-token"),
]


@pytest.mark.parametrize("headers", BAD_AUTH)
def test_without_valid_credentials_is_401(
    client: TestClient, api: Api, baseline: str, headers: dict[str, str]
) -> None:
    calls = [
        client.post(CASES, json=referral(), headers=headers),
        client.post(transitions(baseline), json=fire_body("notify_panel", NOTIFY), headers=headers),
        client.get(CASES, headers=headers),
        client.get(f"{CASES}/{baseline}", headers=headers),
        client.get(f"{CASES}/{uuid.uuid4()}", headers=headers),
    ]
    for response in calls:
        problem = assert_problem(response, 401, "/problems/unauthenticated")
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "sentinel-token-value" not in response.text
        assert "case_id" not in problem


def test_valid_token_without_the_role_is_403_not_401(api: Api, baseline: str) -> None:
    # A valid token works only as its owner: a scrutineer reads, and may fire nothing.
    response = api.fire(baseline, "notify_panel", NOTIFY, who="scrutineer")
    assert_problem(response, 403, "/problems/trigger-forbidden")


# -- list parameters --------------------------------------------------------------------------

BAD_LIST_QUERIES = [
    pytest.param("limit=0", "query.limit", id="limit-zero"),
    pytest.param("limit=-1", "query.limit", id="limit-negative"),
    pytest.param("limit=501", "query.limit", id="limit-over-max"),
    pytest.param("limit=99999999999999999999999", "query.limit", id="limit-huge"),
    pytest.param("limit=abc", "query.limit", id="limit-text"),
    pytest.param("limit=1.5", "query.limit", id="limit-fraction"),
    pytest.param("cursor=" + "A" * 600, "query.cursor", id="cursor-too-long"),
    pytest.param("q=" + "Q" * 101, "query.q", id="q-too-long"),
    pytest.param("state=" + "s" * 65, "query.state", id="state-too-long"),
]


@pytest.mark.parametrize(("query", "loc"), BAD_LIST_QUERIES)
def test_bad_list_parameter_is_422(api: Api, baseline: str, query: str, loc: str) -> None:
    response = api.client.get(f"{CASES}?{query}", headers=api.headers("chair"))
    problem = assert_problem(response, 422, INVALID)
    assert locs(problem) == [loc]


BAD_CURSORS = [
    pytest.param("!!!", id="not-base64"),
    pytest.param("%FF%FE", id="not-ascii"),
    pytest.param("_w", id="not-utf8"),
    pytest.param(encode_cursor({"a": 1}), id="object"),
    pytest.param(encode_cursor([1]), id="wrong-arity"),
    pytest.param(encode_cursor([1, 2]), id="numbers"),
    pytest.param(encode_cursor([None, None]), id="nulls"),
    pytest.param(encode_cursor(["yesterday", str(uuid.uuid4())]), id="bad-instant"),
    pytest.param(encode_cursor(["2026-06-17T09:00:00+00:00", "not-a-uuid"]), id="bad-id"),
]


@pytest.mark.parametrize("cursor", BAD_CURSORS)
def test_bad_cursor_is_422(api: Api, baseline: str, cursor: str) -> None:
    response = api.client.get(f"{CASES}?cursor={cursor}", headers=api.headers("chair"))
    problem = assert_problem(response, 422, "/problems/invalid-query")
    assert problem["detail"] == "The cursor is not one this service issued."


BAD_EVENT_CURSORS = [
    pytest.param("!!!", id="not-base64"),
    pytest.param(encode_cursor(["1"]), id="string"),
    pytest.param(encode_cursor([1.5]), id="fraction"),
    pytest.param(encode_cursor([-1]), id="negative"),
    pytest.param(encode_cursor([1, 2]), id="wrong-arity"),
    pytest.param(encode_cursor([2**31]), id="over-int32"),
    pytest.param(encode_cursor([2**63]), id="over-int64"),
    pytest.param(encode_cursor([10**30]), id="huge"),
]


@pytest.mark.parametrize("cursor", BAD_EVENT_CURSORS)
def test_bad_events_cursor_is_422(api: Api, baseline: str, cursor: str) -> None:
    response = api.client.get(
        f"{CASES}/{baseline}/events?cursor={cursor}", headers=api.headers("chair")
    )
    problem = assert_problem(response, 422, "/problems/invalid-query")
    assert problem["detail"] == "The cursor is not one this service issued."


# -- characters a database cannot store -----------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(referral(summary="before\u0000after"), id="summary"),
        pytest.param(referral(partner_reference="POL\u0000118"), id="partner-reference"),
        pytest.param(referral(comment="a\u0000"), id="comment"),
        pytest.param(with_child(ethnicity="\u0000"), id="child"),
    ],
)
def test_nul_character_in_referral_is_422(api: Api, baseline: str, body: dict[str, Any]) -> None:
    # PostgreSQL cannot store U+0000 in text or JSONB; it is refused everywhere, not a 500.
    response = api.client.post(CASES, json=body, headers=api.headers("chair"))
    problem = assert_problem(response, 422, INVALID)
    assert "NUL" in problem["detail"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            fire_body("notify_panel", {**NOTIFY, "panel_reference": "P\u0000"}), id="data"
        ),
        pytest.param(fire_body("notify_panel", NOTIFY, comment="\u0000"), id="comment"),
        pytest.param(fire_body("notify_panel", {**NOTIFY, "x\u0000": 1}), id="data-key"),
    ],
)
def test_nul_character_in_transition_is_422(api: Api, baseline: str, body: dict[str, Any]) -> None:
    response = api.client.post(transitions(baseline), json=body, headers=api.headers("superuser"))
    problem = assert_problem(response, 422, INVALID)
    assert "NUL" in problem["detail"]


@pytest.mark.parametrize(
    "path",
    [
        f"{CASES}?q=POL%00118",
        f"{CASES}?state=referred%00",
        f"{CASES}?agency=police%00",
        f"{CASES}/TW-2026-0001%00",
    ],
)
def test_nul_character_in_url_is_never_a_500(api: Api, baseline: str, path: str) -> None:
    response = api.client.get(path, headers=api.headers("chair"))
    if response.status_code == 200:
        assert response.json() == {"items": [], "next_cursor": None}
    else:
        assert response.status_code in (404, 422), response.text
        assert_problem(response, response.status_code)


@pytest.mark.parametrize("depth", [40, 500, 900])
@pytest.mark.parametrize("where", ["data", "comment"])
def test_deeply_nested_json_is_422(api: Api, baseline: str, where: str, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    data = f'{{"notified_on": "2026-06-12", "x": {nested}}}' if where == "data" else "{}"
    body = f'{{"trigger": "notify_panel", "data": {data}'
    body += f', "comment": {nested}}}' if where == "comment" else "}"
    response = api.client.post(
        transitions(baseline),
        content=body.encode(),
        headers=api.headers("superuser", **JSON_HEADERS),
    )
    problem = assert_problem(response, 422, INVALID)
    assert "levels deep" in problem["detail"]


@pytest.mark.parametrize("target", ["create", "transition"])
def test_json_too_deep_to_parse_is_400(api: Api, baseline: str, target: str) -> None:
    nested = "[" * 100_000 + "]" * 100_000
    path = CASES if target == "create" else transitions(baseline)
    response = api.client.post(
        path, content=nested.encode(), headers=api.headers("chair", **JSON_HEADERS)
    )
    assert_problem(response, 400, "/problems/malformed-body")


def test_an_event_cannot_precede_the_awareness_of_the_incident(api: Api) -> None:
    case_id = api.create_case(became_aware_on="2026-06-10")["id"]
    before = snapshot(case_id)
    response = api.fire(case_id, "notify_panel", {"notified_on": "2026-06-09"})
    problem = assert_problem(response, 422, INVALID)
    assert problem["errors"] == [
        {
            "loc": "data.notified_on",
            "message": "cannot be before became_aware_on (2026-06-10)",
            "type": "date_order",
        }
    ]
    assert snapshot(case_id) == before
    # The same day is fine: notified the day the local authority became aware.
    assert api.fire(case_id, "notify_panel", {"notified_on": "2026-06-10"}).status_code == 200


def test_an_unknown_trigger_is_not_echoed_back(api: Api, baseline: str) -> None:
    problem = assert_problem(api.fire(baseline, "Jane Smith", {}), 422, "/problems/unknown-trigger")
    assert "Jane Smith" not in json.dumps(problem)


@pytest.mark.parametrize("blank", ["", "   ", "\n\t "])
def test_a_required_rationale_of_blanks_is_no_rationale(
    api: Api, baseline: str, blank: str
) -> None:
    """Closing a case as not notifiable needs the reason why; whitespace is not one."""
    response = api.fire(
        baseline,
        "decide_not_notifiable",
        {"rationale": blank, "alternative_learning": "none"},
        who="chair",
    )
    problem = assert_problem(response, 422, INVALID)
    assert locs(problem) == ["data.rationale"]
