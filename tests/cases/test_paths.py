"""Every path through the CSPR workflow to `closed`, over HTTP, each step fired by the person whose
role the workflow names (never the superuser).

After each step: the new state, the data the trigger recorded, and `allowed_triggers` for the
caller (worked out here from workflows/cspr.yaml, not by the engine's own code). At the end: the
audit timeline is exactly the steps taken, in order, by whom, and `closed_at` is set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.factories import PEOPLE, Api, Directory, snapshot

NOW = datetime.fromisoformat("2026-06-17T09:00:00+00:00")  # the suite's frozen clock
WORKFLOW: dict[str, Any] = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "workflows" / "cspr.yaml").read_text(encoding="utf-8")
)
PERSON: dict[str, tuple[frozenset[str], str | None]] = {
    key: (frozenset(roles), agency) for key, roles, agency in PEOPLE
}
DSP_GATE = "dsp_joint_decision"
DSP_PARTIES = ["dsp:local_authority", "dsp:police", "dsp:health"]
# Who may not read a police referral: the admin holds no case role, and a referrer reads only
# its own agency's referrals (access.policy).
NOT_READERS = ("admin", "referrer_education")
# People whose `allowed_triggers` is checked at every step, besides the one who fired.
OBSERVERS = ("chair", "business", "dsp_la", "dsp_police", "referrer", "scrutineer")


def expected_allowed(state: str, who: str) -> list[str]:
    """The triggers `who` may fire from `state`, read straight from the YAML, in file order."""
    roles, agency = PERSON[who]
    allowed = []
    for name, trigger in WORKFLOW["triggers"].items():
        if state not in trigger["from"]:
            continue
        for spec in trigger["roles"]:
            role, _, only = str(spec).partition(":")
            if role in roles and (not only or only == agency):
                allowed.append(name)
                break
    return allowed


# -- the steps of a path ----------------------------------------------------------------------


@dataclass(frozen=True)
class Fire:
    """Fire `trigger` as `who`; the case must land in `to`."""

    trigger: str
    who: str
    to: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Vote:
    """Cast `who`'s decision on the DSP gate (the case stays in dsp_decision)."""

    who: str
    decided_on: str
    decision: str = "agree"


@dataclass(frozen=True)
class SubmitRefused:
    """submit_rapid_review is refused because these parties have not (re-)agreed."""

    who: str
    missing: tuple[str, ...]


Step = Fire | Vote | SubmitRefused

AWARE_ON = "2025-06-02"
NOTIFY = {
    "notified_on": "2025-06-05",
    "panel_reference": "CSPRP-2025-0456",
    "partners_informed_on": "2025-06-05",
}


def rapid_review(recommendation: str, completed_on: str = "2025-06-20") -> dict[str, Any]:
    return {
        "completed_on": completed_on,
        "recommendation": recommendation,
        "criteria": ["a", "c"] if recommendation == "lcspr" else [],
        "rationale": f"Rapid review recommends {recommendation}.",
        "immediate_actions": "Strategy discussion held; sibling safety plan in place.",
    }


def dsp_votes(*days: str) -> list[Step]:
    return [
        Vote(who, day)
        for who, day in zip(("dsp_la", "dsp_police", "dsp_health"), days, strict=True)
    ]


def to_panel(recommendation: str, outcome: str, received_on: str = "2025-07-15") -> list[Step]:
    """notify, rapid review, the DSPs' joint decision, submission and the Panel's response."""
    branch = {
        "agrees_lcspr": "lcspr_commissioning",
        "agrees_no_lcspr": "action_monitoring",
        "national_review": "national_review",
        "further_information_requested": "rapid_review",
    }[outcome]
    return [
        Fire("notify_panel", "business", "rapid_review", NOTIFY),
        Fire("complete_rapid_review", "chair", "dsp_decision", rapid_review(recommendation)),
        *dsp_votes("2025-06-23", "2025-06-23", "2025-06-24"),
        Fire(
            "submit_rapid_review",
            "business",
            "awaiting_panel_response",
            {"submitted_on": "2025-06-24"},
        ),
        Fire(
            "record_panel_response",
            "business",
            branch,
            {"received_on": received_on, "outcome": outcome},
        ),
    ]


def lcspr_to_final_report() -> list[Step]:
    return [
        *to_panel("lcspr", "agrees_lcspr"),
        Fire(
            "commission_lcspr",
            "chair",
            "lcspr_in_progress",
            {
                "reviewer": "A. Reviewer (independent)",
                "methodology": "Systems approach with practitioner learning events",
                "terms_of_reference_agreed_on": "2025-08-01",
                "scope_from": "2024-09-01",
                "scope_to": AWARE_ON,
            },
        ),
        Fire(
            "receive_final_report",
            "business",
            "final_report",
            {"received_on": "2026-04-28", "recommendations": "Seven multi-agency recommendations."},
        ),
    ]


SEND = Fire(
    "send_to_panel_and_sos",
    "business",
    "awaiting_publication",
    # Monday 1 June 2026 + 7 working days = Wednesday 10 June 2026 (no bank holiday between).
    {"sent_on": "2026-06-01", "planned_publication_on": "2026-06-10"},
)
WITHHOLD = Fire(
    "withhold_publication",
    "chair",
    "publication_withheld",
    {
        "reason": "Criminal proceedings are pending.",
        "improvements_only": True,
        "review_on": "2026-09-01",
    },
)
CLOSE = Fire("close", "chair", "closed")

PATHS: dict[str, list[Step]] = {
    "a-lcspr-published": [
        *to_panel("lcspr", "agrees_lcspr"),
        Fire(
            "commission_lcspr",
            "chair",
            "lcspr_in_progress",
            {
                "reviewer": "A. Reviewer (independent)",
                "methodology": "Systems approach with practitioner learning events",
                "terms_of_reference_agreed_on": "2025-08-01",
                "scope_from": "2024-09-01",
                "scope_to": AWARE_ON,
            },
        ),
        Fire(
            "record_quality_check",
            "business",
            "lcspr_in_progress",
            {
                "checked_on": "2025-09-01",
                "written_request": "Please share the draft chronology by 15 September.",
                "finding": "On track; agency chronologies received.",
            },
        ),
        Fire(
            "record_delay",
            "chair",
            "lcspr_in_progress",
            {
                "reason": "A key agency's records arrived late.",
                "revised_completion_on": "2026-04-30",
                "panel_and_sos_informed_on": "2025-12-15",
            },
        ),
        Fire(
            "receive_final_report",
            "business",
            "final_report",
            {"received_on": "2026-04-28", "recommendations": "Seven multi-agency recommendations."},
        ),
        Fire(
            "schedule_publication",
            "chair",
            "final_report",
            {"planned_publication_on": "2026-06-10"},
        ),
        SEND,
        Fire(
            "publish",
            "business",
            "action_monitoring",
            # Exactly 7 working days after sent_on: the earliest lawful date.
            {"published_on": "2026-06-10", "url": "https://tw-scp.example/reviews/2026-child-t"},
        ),
        CLOSE,
    ],
    "b-lcspr-withheld-then-published": [
        *lcspr_to_final_report(),
        SEND,
        WITHHOLD,
        Fire(
            "publish",
            "business",
            "action_monitoring",
            {"published_on": "2026-06-16", "url": "https://tw-scp.example/reviews/2026-child-t"},
        ),
        CLOSE,
    ],
    "c-lcspr-withheld-not-published": [
        *lcspr_to_final_report(),
        SEND,
        WITHHOLD,
        Fire(
            "confirm_non_publication",
            "chair",
            "action_monitoring",
            {
                "rationale": "Publication would identify the child's siblings.",
                "panel_and_sos_informed_on": "2026-06-15",
            },
        ),
        CLOSE,
    ],
    "d-no-lcspr": [*to_panel("no_lcspr", "agrees_no_lcspr"), CLOSE],
    "e-national-review": [
        *to_panel("national_review_suggested", "national_review"),
        Fire(
            "record_national_review_outcome",
            "chair",
            "action_monitoring",
            {"received_on": "2026-03-02", "summary": "Findings fed into the national thematic."},
        ),
        CLOSE,
    ],
    "f-not-notifiable": [
        Fire(
            "decide_not_notifiable",
            "chair",
            "closed",
            {
                "rationale": "The harm was not caused by abuse or neglect.",
                "alternative_learning": "single_agency_review",
            },
        ),
    ],
    "g-withdrawn": [
        # dsp:local_authority may also notify: the local authority holds the duty.
        Fire("notify_panel", "dsp_la", "rapid_review", NOTIFY),
        Fire(
            "withdraw",
            "chair",
            "closed",
            {"rationale": "New medical evidence: the injury was accidental."},
        ),
    ],
    "h-further-information-requested": [
        *to_panel("lcspr", "further_information_requested"),
        Fire(
            "complete_rapid_review",
            "chair",
            "dsp_decision",
            rapid_review("no_lcspr", completed_on="2025-07-25"),
        ),
        # A new round: the agreements of the first round no longer count.
        SubmitRefused("business", tuple(DSP_PARTIES)),
        Vote("dsp_police", "2025-07-28"),
        SubmitRefused("chair", ("dsp:local_authority", "dsp:health")),
        Vote("dsp_health", "2025-07-28"),
        SubmitRefused("business", ("dsp:local_authority",)),
        Vote("dsp_la", "2025-07-29"),
        Fire(
            "submit_rapid_review",
            "business",
            "awaiting_panel_response",
            {"submitted_on": "2025-07-29"},
        ),
        Fire(
            "record_panel_response",
            "business",
            "action_monitoring",
            {"received_on": "2025-08-20", "outcome": "agrees_no_lcspr"},
        ),
        CLOSE,
    ],
}


# -- the test ---------------------------------------------------------------------------------


def _check_allowed(api: Api, case_id: str, state: str, body: dict[str, Any], who: str) -> None:
    assert body["allowed_triggers"] == expected_allowed(state, who), (state, who)
    for observer in OBSERVERS:
        if observer != who:
            seen = api.get_case(case_id, who=observer)
            assert seen["state"] == state
            assert seen["allowed_triggers"] == expected_allowed(state, observer), (
                state,
                observer,
            )


@pytest.mark.parametrize("steps", list(PATHS.values()), ids=list(PATHS))
def test_path_to_closed(api: Api, directory: Directory, steps: list[Step]) -> None:
    users = directory.user_ids["TW"]

    def event(kind: str, trigger: str | None, from_: str | None, to: str, who: str) -> tuple:
        roles, agency = PERSON[who]
        return (kind, trigger, from_, to, users[who], sorted(roles), agency)

    case = api.create_case(
        who="referrer",
        became_aware_on=AWARE_ON,
        incident={
            "occurred_on": "2025-05-30",
            "outcome": "serious_harm",
            "abuse_or_neglect": "suspected",
            "categories": ["physical_abuse", "neglect"],
        },
    )
    case_id, state = case["id"], case["state"]
    assert state == "referred"
    assert case["closed_at"] is None
    _check_allowed(api, case_id, state, case, "referrer")
    expected_events = [event("case.created", None, None, "referred", "referrer")]
    first_round: int | None = None

    for step in steps:
        if isinstance(step, Fire):
            body = api.ok(case_id, step.trigger, step.data, who=step.who)
            assert body["state"] == step.to, step
            assert body["recorded"][step.trigger] == step.data
            assert body["version"] == len(expected_events) + 1
            assert (body["closed_at"] is not None) == (step.to == "closed")
            gate = body["approvals"][DSP_GATE]
            if step.to == "dsp_decision":
                # The gate opens afresh each time the case enters dsp_decision.
                assert gate["status"] == "open"
                assert gate["votes"] == []
                assert gate["missing"] == DSP_PARTIES
                assert gate["round"] == body["version"]
                assert gate["round"] != first_round
                first_round = first_round or gate["round"]
            expected_events.append(
                event("case.transitioned", step.trigger, state, step.to, step.who)
            )
            state = step.to
            _check_allowed(api, case_id, state, body, step.who)
        elif isinstance(step, Vote):
            response = api.vote(case_id, step.who, step.decision, decided_on=step.decided_on)
            assert response.status_code == 200, response.text
            gate = response.json()
            party = {"dsp_la": DSP_PARTIES[0], "dsp_police": DSP_PARTIES[1]}.get(
                step.who, DSP_PARTIES[2]
            )
            assert party not in gate["missing"]
            assert {(v["party"], v["decision"], v["decided_on"]) for v in gate["votes"]} >= {
                (party, step.decision, step.decided_on)
            }
            assert gate["status"] == ("agreed" if not gate["missing"] else "open")
            expected_events.append(event("approval.voted", None, state, state, step.who))
        else:
            before = snapshot(case_id)
            response = api.fire(
                case_id, "submit_rapid_review", {"submitted_on": "2025-07-28"}, who=step.who
            )
            assert response.status_code == 409, response.text
            problem = response.json()
            assert problem["type"] == "/problems/guard-rejected"
            assert problem["guard"] == "gate_agreed"
            assert problem["state"] == "dsp_decision"
            assert problem["missing"] == list(step.missing)
            assert problem["disagreeing"] == []
            assert all(party in problem["detail"] for party in step.missing)
            assert snapshot(case_id) == before

    assert state == "closed"
    final = api.get_case(case_id, who="chair")
    assert final["state"] == "closed"
    assert final["closed_at"] is not None
    assert datetime.fromisoformat(final["closed_at"]) == NOW
    for who in PERSON:
        if who in NOT_READERS:
            response = api.client.get(f"/api/v1/cases/{case_id}", headers=api.headers(who))
            assert response.status_code == 404, who
            continue
        assert api.get_case(case_id, who=who)["allowed_triggers"] == []

    events = api.events(case_id, who="scrutineer")
    timeline = [
        (
            e["kind"],
            e["trigger"],
            e["from_state"],
            e["to_state"],
            e["actor_id"],
            e["actor_roles"],
            e["actor_agency"],
        )
        for e in events
    ]
    assert timeline == expected_events
    assert [e["seq"] for e in events] == list(range(1, len(expected_events) + 1))
    assert final["version"] == len(expected_events)
    # Each transition's audit event carries the data the trigger recorded.
    fired = [s for s in steps if isinstance(s, Fire)]
    transitioned = [e for e in events if e["kind"] == "case.transitioned"]
    assert [e["data"] for e in transitioned] == [s.data for s in fired]
