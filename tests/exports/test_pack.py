"""The rapid review submission pack renders at every stage of the CSPR workflow, in Markdown and
in Word, with the sections the Panel's template asks for and the facts the case recorded.

Each path below drives one case through workflows/cspr.yaml by the API (together the paths take
every state and every trigger, branches included: a test insists); after every step the pack
is fetched in both formats and read back. Both must hold the same headings, facts, bullets,
paragraphs and tables, and every fact expected so far (written out here by hand, dates in
words) must be there. What has not happened yet says "Not yet recorded".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from cspr_engine.kit.clock import FixedClock
from tests.exports.support import DOCX, NOT_YET, SECTIONS, Read, both, pack, read_markdown
from tests.factories import PEOPLE, Api, Directory, access_events, assert_problem, snapshot
from tests.information_requests.helpers import share_with

WORKFLOW: dict[str, Any] = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "workflows" / "cspr.yaml").read_text(encoding="utf-8")
)
LABELS = {name: state["label"] for name, state in WORKFLOW["states"].items()}

REFERRAL: dict[str, Any] = {
    "became_aware_on": "2025-06-02",
    "incident": {
        "occurred_on": "2025-05-31",
        "outcome": "serious_harm",
        "abuse_or_neglect": "suspected",
        "categories": ["physical_abuse", "neglect"],
    },
    "child": {"age_years": 2, "sex": "female", "legal_status": "cp_plan", "ethnicity": "White"},
}
SUMMARY = "Infant admitted with unexplained fractures."
ASKED = "Your involvement with the family since 2024, and a chronology."
RETURN = "Two callouts to the address in 2025; no child protection referral made."
IMMEDIATE = "Strategy discussion held; sibling safety plan in place."
REG_11_A = (
    "(a) The case highlights or may highlight improvements needed to safeguard and promote the "
    "welfare of children, including where those improvements have been previously identified"
)
REG_11_C = (
    "(c) The case highlights or may highlight concerns regarding two or more agencies working "
    "together effectively to safeguard and promote the welfare of children"
)
GATE = "Joint decision of the delegated safeguarding partners"
NOTIFIED = "Notification to the Panel"
REVIEW, FACTS, IMMEDIATE_S, LEARNING = SECTIONS[1], SECTIONS[3], SECTIONS[4], SECTIONS[5]
CLOCKS = ("Clock", "Rule", "Kind", "Started", "Due", "Status", "Met on")
D1 = "Notify the Panel"
D5 = "Complete the rapid review and send it to the Panel"
D7 = "Complete the local child safeguarding practice review"

Facts = dict[tuple[str, str], str]


@dataclass(frozen=True)
class Step:
    """Do something to the case; the pack must then show the case at `state` and these facts
    (kept for the steps after, unless a later step says otherwise)."""

    name: str
    do: Callable[[Api, dict[str, Any]], None]
    state: str
    facts: Facts = field(default_factory=dict)
    # Clock rows expected from now on, by clock: (rule, kind, started, due, status, met on).
    clocks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    bullets: tuple[str, ...] = ()  # present right after this step
    paragraphs: tuple[str, ...] = ()


def fire(
    trigger: str, data: dict[str, Any], to: str, facts: Facts | None = None, **more: Any
) -> Step:
    def do(api: Api, case: dict[str, Any]) -> None:
        api.ok(case["id"], trigger, data)

    return Step(trigger, do, to, facts or {}, **more)


def votes(*days: str) -> Step:
    def do(api: Api, case: dict[str, Any]) -> None:
        for who, day in zip(("dsp_la", "dsp_police", "dsp_health"), days, strict=True):
            response = api.vote(case["id"], who, decided_on=day)
            assert response.status_code == 200, response.text

    party = ("DSP (local authority)", "DSP (police)", "DSP (health)")
    return Step(
        "votes",
        do,
        "dsp_decision",
        {
            (GATE, p): f"Agree, decided on {day}.\nRationale: {who} rationale"
            for p, who, day in zip(
                party, ("dsp_la", "dsp_police", "dsp_health"), map(_words, days), strict=True
            )
        }
        | {(GATE, "Status"): f"Agreed on {_words(max(days))}", (GATE, "Votes"): ""},
    )


def _words(iso: str) -> str:
    from datetime import date

    day = date.fromisoformat(iso)
    return f"{day.day} {day:%B %Y}"


def call(
    name: str, state: str, method: str, path: str, body: dict[str, Any], who: str, **more: Any
) -> Step:
    """A casework request (`{id}` and `{request:N}` fill in), as `who`."""

    def do(api: Api, case: dict[str, Any]) -> None:
        url = path.replace("{id}", case["id"])
        if "{request:" in url:
            listed = api.client.get(
                f"/api/v1/cases/{case['id']}/information-requests", headers=api.headers("chair")
            ).json()["items"]
            for r in listed:
                url = url.replace(f"{{request:{r['number']}}}", r["id"])
        response = api.client.request(method, url, json=body, headers=api.headers(who))
        assert response.status_code < 300, response.text

    return Step(name, do, state, **more)


def rapid_review_steps(recommendation: str = "lcspr") -> list[Step]:
    """notify, ask two agencies, one answers and one is withdrawn, the rapid review clock is
    extended, the review is completed, the DSPs agree and it is submitted."""
    return [
        fire(
            "notify_panel",
            {
                "notified_on": "2025-06-05",
                "panel_reference": "CSPRP-2025-0456",
                "partners_informed_on": "2025-06-05",
            },
            "rapid_review",
            {
                (NOTIFIED, "Date the Panel was notified"): "5 June 2025",
                (NOTIFIED, "Notification reference"): "CSPRP-2025-0456",
                (NOTIFIED, "Date the safeguarding partners were informed"): "5 June 2025",
            },
            # Aware Monday 2 June 2025: +5 working days is Monday 9 June; +15 is Monday 23 June.
            clocks={
                D1: ("D1, D2", "Statutory", "2 June 2025", "9 June 2025", "Met", "5 June 2025"),
                D5: ("D5", "Statutory", "2 June 2025", "23 June 2025", "Breached", "-"),
            },
        ),
        call(
            "ask",
            "rapid_review",
            "POST",
            "/api/v1/cases/{id}/information-requests",
            {"agencies": ["police", "education"], "asked": ASKED},
            "business",
            facts={
                ("Partners involved", "Agencies asked for information"): "Police, Education",
                ("Request 1: Police", "Asked"): ASKED,
                ("Request 1: Police", "Asked on"): "17 June 2026",
                # Five working days after the suite's Wednesday 17 June 2026.
                ("Request 1: Police", "Due"): "24 June 2026",
                ("Request 1: Police", "Status"): "Awaiting the return",
                ("Request 2: Education", "Status"): "Awaiting the return",
            },
            bullets=("Information returns awaited from: Police, Education.",),
        ),
        call(
            "answer",
            "rapid_review",
            "POST",
            "/api/v1/cases/{id}/information-requests/{request:1}/response",
            {
                "known_to_agency": True,
                "summary": RETURN,
                "involvement_from": "2025-01-04",
                "involvement_to": "2025-11-30",
                "chronology_included": True,
            },
            "referrer",
            facts={
                ("Request 1: Police", "Status"): "Returned",
                ("Request 1: Police", "Return clock"): "Met",
                ("Request 1: Police", "Returned on"): "17 June 2026",
                ("Request 1: Police", "Known to the agency"): "Yes",
                (
                    "Request 1: Police",
                    "Period of involvement",
                ): "4 January 2025 to 30 November 2025",
                ("Request 1: Police", "Chronology included"): "Yes",
                ("Request 1: Police", "The agency's summary"): RETURN,
            },
            bullets=("Information returns awaited from: Education.",),
        ),
        call(
            "withdraw the request to education",
            "rapid_review",
            "POST",
            "/api/v1/cases/{id}/information-requests/{request:2}/withdraw",
            {"reason": "The child was not yet at school."},
            "business",
            facts={
                ("Partners involved", "Agencies asked for information"): "Police",
                ("Request 2: Education", "Status"): "Withdrawn",
                ("Request 2: Education", "Withdrawn on"): "17 June 2026",
                ("Request 2: Education", "Why"): "The child was not yet at school.",
            },
        ),
        call(
            "extend the rapid review",
            "rapid_review",
            "POST",
            "/api/v1/cases/{id}/deadlines/rapid_review/extensions",
            {
                "new_due_on": "2025-06-30",
                "reason": "The health return came late.",
                "agreed_with": "The Panel",
            },
            "chair",
            clocks={D5: ("D5", "Statutory", "2 June 2025", "30 June 2025", "Breached", "-")},
            bullets=(
                f"{D5} (D5): due date moved from 23 June 2025 to 30 June 2025 on 17 June 2026. "
                "Reason: The health return came late. Agreed with: The Panel.",
            ),
        ),
        fire(
            "complete_rapid_review",
            {
                "completed_on": "2025-06-20",
                "recommendation": recommendation,
                "criteria": ["a", "c"] if recommendation == "lcspr" else [],
                "rationale": f"The partners recommend {recommendation}.",
                "immediate_actions": IMMEDIATE,
            },
            "dsp_decision",
            {
                (REVIEW, "Date the rapid review was completed"): "20 June 2025",
                (IMMEDIATE_S, "Immediate actions taken"): IMMEDIATE,
                (LEARNING, "Recommendation"): {
                    "lcspr": "A local child safeguarding practice review (LCSPR)",
                    "no_lcspr": "No local child safeguarding practice review",
                }[recommendation],
                (LEARNING, "Regulation 11 criteria relied on"): (
                    f"{REG_11_A}\n{REG_11_C}" if recommendation == "lcspr" else "None"
                ),
                (LEARNING, "Rationale and learning"): f"The partners recommend {recommendation}.",
                (GATE, "Status"): "Open: votes are being cast",
            },
        ),
        votes("2025-06-23", "2025-06-23", "2025-06-24"),
        fire(
            "submit_rapid_review",
            {"submitted_on": "2025-06-24"},
            "awaiting_panel_response",
            {
                (REVIEW, "Date it was submitted to the Panel"): "24 June 2025",
                (GATE, "Status"): "Decided, agreed on 24 June 2025",
            },
            clocks={D5: ("D5", "Statutory", "2 June 2025", "30 June 2025", "Met", "24 June 2025")},
        ),
    ]


def panel(outcome: str, to: str, received_on: str = "2025-07-15") -> Step:
    return fire(
        "record_panel_response",
        {"received_on": received_on, "outcome": outcome},
        to,
        {
            ("Record the Panel's response", "Date received"): _words(received_on),
            ("Record the Panel's response", "Stage afterwards"): LABELS[to],
        },
    )


def to_final_report() -> list[Step]:
    return [
        *rapid_review_steps(),
        panel("agrees_lcspr", "lcspr_commissioning"),
        fire(
            "commission_lcspr",
            {
                "reviewer": "A. Reviewer (independent)",
                "methodology": "Systems approach",
                "terms_of_reference_agreed_on": "2025-08-01",
                "scope_from": "2024-09-01",
                "scope_to": "2025-06-02",
            },
            "lcspr_in_progress",
            {
                ("Commission the local review", "Reviewer"): "A. Reviewer (independent)",
                ("Commission the local review", "Terms of reference agreed on"): "1 August 2025",
                ("Commission the local review", "Period under review from"): "1 September 2024",
            },
            # Six months from the DSPs' agreement (Tuesday 24 June 2025).
            clocks={D7: ("D7", "Statutory", "24 June 2025", "24 December 2025", "Breached", "-")},
        ),
        fire(
            "record_quality_check",
            {
                "checked_on": "2025-09-01",
                "written_request": "Send the draft.",
                "finding": "On track.",
            },
            "lcspr_in_progress",
            {
                ("Record a progress and quality check", "Date checked"): "1 September 2025",
                ("Record a progress and quality check", "Finding"): "On track.",
            },
        ),
        fire(
            "record_delay",
            {
                "reason": "A criminal trial is listed.",
                "revised_completion_on": "2026-04-30",
                "panel_and_sos_informed_on": "2025-12-01",
            },
            "lcspr_in_progress",
            {
                (
                    "Record a delay to the review",
                    "Reason for the delay",
                ): "A criminal trial is listed.",
                ("Record a delay to the review", "Revised completion date"): "30 April 2026",
            },
            clocks={D7: ("D7", "Statutory", "24 June 2025", "30 April 2026", "Breached", "-")},
            bullets=(
                f"{D7} (D7): due date moved from 24 December 2025 to 30 April 2026 on "
                "17 June 2026. Reason: A criminal trial is listed.",
            ),
        ),
        fire(
            "receive_final_report",
            {"received_on": "2026-04-28", "recommendations": "Seven multi-agency recommendations."},
            "final_report",
            {
                ("Receive the final report", "Recommendations"): (
                    "Seven multi-agency recommendations."
                )
            },
            clocks={
                D7: ("D7", "Statutory", "24 June 2025", "30 April 2026", "Met", "28 April 2026")
            },
        ),
        fire(
            "schedule_publication",
            {"planned_publication_on": "2026-06-10"},
            "final_report",
            {("Plan the publication date", "Planned publication date"): "10 June 2026"},
        ),
        fire(
            "send_to_panel_and_sos",
            {"sent_on": "2026-06-01", "planned_publication_on": "2026-06-10"},
            "awaiting_publication",
            {
                (
                    "Send the report to the Panel and the Secretary of State",
                    "Date sent",
                ): "1 June 2026"
            },
        ),
    ]


PUBLISH = fire(
    "publish",
    {"published_on": "2026-06-10", "url": "https://tw-scp.example/reviews/1"},
    "action_monitoring",
    {("Publish the report", "Where it is published"): "https://tw-scp.example/reviews/1"},
)
WITHHOLD = fire(
    "withhold_publication",
    {
        "reason": "Criminal proceedings are pending.",
        "improvements_only": True,
        "review_on": "2026-09-01",
    },
    "publication_withheld",
    {
        ("Delay or withhold publication", "Reason"): "Criminal proceedings are pending.",
        (
            "Delay or withhold publication",
            "Only information about improvements will be published",
        ): "Yes",
    },
)
ACTION = call(
    "add an improvement action",
    "action_monitoring",
    "POST",
    "/api/v1/cases/{id}/actions",
    {
        "source": "recommendation",
        "description": "Health visitors share concerns within 24 hours.",
        "owner_agency": "health",
        "due_on": "2026-09-30",
    },
    "qpd",
    bullets=("Improvement actions not yet done: A1.",),
)
ACTION_DONE = call(
    "complete it",
    "action_monitoring",
    "PATCH",
    "/api/v1/cases/{id}/actions/A1",
    {"status": "completed", "evidence_of_impact": "Audit of 20 cases."},
    "qpd",
)
CLOSE = fire("close", {}, "closed", paragraphs=("Nothing: the case was closed on 17 June 2026.",))

# Each path: the steps another path already checks (taken here without fetching the pack, to
# keep the suite quick), then the steps checked here.
PATHS: dict[str, tuple[list[Step], list[Step]]] = {
    "lcspr-published": ([], [*to_final_report(), PUBLISH, ACTION, ACTION_DONE, CLOSE]),
    "publication-withheld-then-published": (to_final_report(), [WITHHOLD, PUBLISH, CLOSE]),
    "publication-withheld-not-published": (
        [*to_final_report(), WITHHOLD],
        [
            fire(
                "confirm_non_publication",
                {
                    "rationale": "It would identify the siblings.",
                    "panel_and_sos_informed_on": "2026-06-15",
                },
                "action_monitoring",
                {
                    (
                        "Confirm the report will not be published",
                        "Rationale",
                    ): "It would identify the siblings."
                },
            ),
            CLOSE,
        ],
    ),
    "national-review": (
        rapid_review_steps(),
        [
            panel("national_review", "national_review"),
            fire(
                "record_national_review_outcome",
                {"received_on": "2026-03-02", "summary": "Published nationally."},
                "action_monitoring",
                {("Record the national review's outcome", "Summary"): "Published nationally."},
            ),
            CLOSE,
        ],
    ),
    "further-information-then-no-lcspr": (
        rapid_review_steps(),
        [
            panel("further_information_requested", "rapid_review"),
            fire(
                "complete_rapid_review",
                {
                    "completed_on": "2025-07-25",
                    "recommendation": "no_lcspr",
                    "rationale": "Single-agency learning is enough.",
                },
                "dsp_decision",
                {
                    # A new round of the DSPs' decision: the earlier votes are history (events).
                    **{
                        (GATE, p): ""
                        for p in ("DSP (local authority)", "DSP (police)", "DSP (health)")
                    },
                    (GATE, "Votes"): NOT_YET,
                    (REVIEW, "Date the rapid review was completed"): "25 July 2025",
                    (LEARNING, "Recommendation"): "No local child safeguarding practice review",
                    (LEARNING, "Regulation 11 criteria relied on"): "None",
                    (LEARNING, "Rationale and learning"): "Single-agency learning is enough.",
                    (IMMEDIATE_S, "Immediate actions taken"): NOT_YET,
                    (GATE, "Status"): "Open: votes are being cast",
                },
            ),
            votes("2025-07-28", "2025-07-28", "2025-07-28"),
            fire(
                "submit_rapid_review",
                {"submitted_on": "2025-07-29"},
                "awaiting_panel_response",
                {
                    (REVIEW, "Date it was submitted to the Panel"): "29 July 2025",
                    (GATE, "Status"): "Decided, agreed on 28 July 2025",
                },
            ),
            panel("agrees_no_lcspr", "action_monitoring", received_on="2025-08-12"),
            CLOSE,
        ],
    ),
    "not-notifiable": (
        [],
        [
            fire(
                "decide_not_notifiable",
                {
                    "rationale": "No abuse or neglect.",
                    "alternative_learning": "single_agency_review",
                },
                "closed",
                {
                    (NOTIFIED, "Decision"): "The incident was decided not notifiable",
                    (NOTIFIED, "Why the criteria are not met"): "No abuse or neglect.",
                    (NOTIFIED, "Other learning route"): "Single agency review",
                    # In place of the notification, which will not be made.
                    (NOTIFIED, "Date the Panel was notified"): "",
                    (NOTIFIED, "Notification reference"): "",
                },
                paragraphs=("Nothing: the case was closed on 17 June 2026.",),
                clocks={
                    D1: ("D1, D2", "Statutory", "2 June 2025", "9 June 2025", "Cancelled", "-"),
                    D5: ("D5", "Statutory", "2 June 2025", "23 June 2025", "Cancelled", "-"),
                },
            ),
        ],
    ),
    "withdrawn": (
        rapid_review_steps()[:1],
        [
            fire(
                "withdraw",
                {"rationale": "Not abuse or neglect after all."},
                "closed",
                {
                    (
                        "Withdraw (criteria not met after notification)",
                        "Why the case is withdrawn",
                    ): "Not abuse or neglect after all."
                },
                paragraphs=("Nothing: the case was closed on 17 June 2026.",),
                clocks={D5: ("D5", "Statutory", "2 June 2025", "23 June 2025", "Cancelled", "-")},
            ),
        ],
    ),
}


def at_referral(case: dict[str, Any]) -> Facts:
    """What the pack says of a case just referred."""
    title = f"Rapid review submission: {case['reference']}"
    details = SECTIONS[0]
    return {
        (title, "Case reference"): case["reference"],
        (title, "Partnership"): "TW",
        (details, "Partner's reference"): "POL-2026-118",
        (details, "Referring agency"): "Police",
        (details, "Date the local authority became aware"): "2 June 2025",
        (NOTIFIED, "Date the Panel was notified"): NOT_YET,
        (NOTIFIED, "Notification reference"): NOT_YET,
        (REVIEW, "Date the rapid review was completed"): NOT_YET,
        (REVIEW, "Date it was submitted to the Panel"): NOT_YET,
        ("Partners involved", "Safeguarding partners deciding jointly"): (
            "DSP (local authority), DSP (police), DSP (health)"
        ),
        ("Partners involved", "Agencies asked for information"): NOT_YET,
        (FACTS, "Date of the incident"): "31 May 2025",
        (FACTS, "Outcome"): "Serious harm",
        (FACTS, "Abuse or neglect"): "Suspected",
        (FACTS, "Categories"): "Physical abuse, Neglect",
        (FACTS, "Summary as referred"): SUMMARY,
        ("The child's context", "Age"): "2 years",
        ("The child's context", "Sex"): "Female",
        ("The child's context", "Legal status at the time"): "Child protection plan",
        ("The child's context", "Ethnicity"): "White",
        ("The child's context", "Disability"): NOT_YET,
        (IMMEDIATE_S, "Immediate actions taken"): NOT_YET,
        (LEARNING, "Recommendation"): NOT_YET,
        (LEARNING, "Regulation 11 criteria relied on"): NOT_YET,
        (LEARNING, "Rationale and learning"): NOT_YET,
        (GATE, "Status"): NOT_YET,
        (GATE, "Votes"): NOT_YET,
    }


def check(
    read: Read,
    other: Read,
    *,
    reference: str,
    state: str,
    facts: Facts,
    clocks: dict[str, tuple[str, ...]],
) -> None:
    assert read == other, "the Markdown and the Word document differ"
    title = f"Rapid review submission: {reference}"
    assert read.headings[0] == (1, title)
    assert [text for level, text in read.headings if level == 2] == SECTIONS
    assert read.fact(title, "Stage") == [LABELS[state]]
    assert read.fact(SECTIONS[0], "Current stage") == [LABELS[state]]
    for (heading, label), value in facts.items():
        if value:
            assert value in read.fact(heading, label), (heading, label, read.fact(heading, label))
        else:  # no longer said
            assert read.fact(heading, label) == [], (heading, label)
    rows = {row[0]: tuple(row[1:]) for row in read.table("Clock")[1:]}
    assert read.table("Clock")[0] == list(CLOCKS)
    for clock, row in clocks.items():
        assert rows[clock] == row, clock
    # Nothing of the child's identity: the fixtures hold none, and the pack adds none.
    assert not any("date of birth:" in v.lower() for _, _, v in read.facts)


@pytest.mark.parametrize("path", sorted(PATHS))
def test_the_pack_renders_at_every_stage_in_both_formats(api: Api, path: str) -> None:
    given, checked = PATHS[path]
    case = api.create_case(**REFERRAL, summary=SUMMARY)
    facts = at_referral(case)
    clocks: dict[str, tuple[str, ...]] = {
        D1: ("D1, D2", "Statutory", "2 June 2025", "9 June 2025", "Breached", "-"),
        D5: ("D5", "Statutory", "2 June 2025", "23 June 2025", "Breached", "-"),
    }
    if not given:
        md, word = both(api, case)
        check(md, word, reference=case["reference"], state="referred", facts=facts, clocks=clocks)
        assert f"{NOT_YET}: no agency has been asked for its information." in md.paragraphs
        assert "No clock has been extended." in md.paragraphs
        assert md.paragraphs[-1] == NOT_YET  # section 9: nothing after the rapid review yet
        assert md.bullets == [
            "The case is at: Referred. The local authority knows of the incident and decides "
            "whether it is notifiable.",
            "Next steps the workflow allows: Notify the Panel; Decide the incident is not "
            "notifiable.",
            f"{D1} (D1, D2, statutory): due 9 June 2025; breached.",
            f"{D5} (D5, statutory): due 23 June 2025; breached.",
            "Partners' view on notification (advisory; the local authority decides): votes "
            "awaited from DSP (local authority), DSP (police), DSP (health).",
        ]
    for step in given:
        step.do(api, case)
        facts.update(step.facts)
        clocks.update(step.clocks)
    for step in checked:
        step.do(api, case)
        facts.update(step.facts)
        clocks.update(step.clocks)
        md, word = both(api, case)
        check(md, word, reference=case["reference"], state=step.state, facts=facts, clocks=clocks)
        for bullet in step.bullets:
            assert bullet in md.bullets, (step.name, bullet, md.bullets)
        for paragraph in step.paragraphs:
            assert paragraph in md.paragraphs, (step.name, paragraph, md.paragraphs)
    assert api.get_case(case["id"])["state"] == "closed"


def test_the_checked_steps_take_every_state_trigger_and_branch_of_the_workflow() -> None:
    checked = [s for _, steps in PATHS.values() for s in steps]
    assert {"referred"} | {s.state for s in checked} == set(WORKFLOW["states"])
    assert {s.name for s in checked} >= set(WORKFLOW["triggers"])
    branches = WORKFLOW["triggers"]["record_panel_response"]["branches"]
    taken = {s.facts.get(("Record the Panel's response", "Stage afterwards")) for s in checked}
    assert {LABELS[b["to"]] for b in branches} <= taken


# -- formats and negotiation ------------------------------------------------------------------


class TestNegotiation:
    @pytest.mark.parametrize(
        ("accept", "expected"),
        [
            (None, "text/markdown; charset=utf-8"),
            ("*/*", "text/markdown; charset=utf-8"),
            ("text/markdown", "text/markdown; charset=utf-8"),
            ("text/*", "text/markdown; charset=utf-8"),
            (DOCX, DOCX),
            ("application/*", DOCX),
            # A browser's own: */* matches both, Markdown is preferred on a tie.
            (
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                "text/markdown; charset=utf-8",
            ),
            (f"text/markdown;q=0.5, {DOCX}", DOCX),
            (f"*/*;q=0.1, {DOCX};q=0.2", DOCX),
            ("text/markdown;q=0, */*", DOCX),
        ],
    )
    def test_accept_chooses_the_format(self, api: Api, accept: str | None, expected: str) -> None:
        case = api.create_case()
        headers = {"Accept": accept} if accept is not None else {}
        response = pack(api, case, **headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == expected
        assert response.headers["vary"] == "Accept"

    @pytest.mark.parametrize(
        "accept",
        [
            "application/json",
            "text/html",
            "application/pdf, text/csv;q=0.9",
            f"{DOCX};q=0, text/markdown;q=0",
            "nonsense",
        ],
    )
    def test_a_format_neither_of_the_two_is_406(self, api: Api, accept: str) -> None:
        case = api.create_case()
        problem = assert_problem(pack(api, case, Accept=accept), 406, "/problems/not-acceptable")
        assert problem["available"] == ["text/markdown", DOCX]

    def test_format_in_the_query_wins_over_accept(self, api: Api) -> None:
        case = api.create_case()
        url = f"/api/v1/cases/{case['id']}/submission-pack?format="
        word = api.client.get(url + "docx", headers=api.headers("chair", Accept="text/markdown"))
        assert word.headers["content-type"] == DOCX
        md = api.client.get(url + "md", headers=api.headers("chair", Accept="application/json"))
        assert md.headers["content-type"] == "text/markdown; charset=utf-8"
        assert read_markdown(md.text).headings[0] == (
            1,
            f"Rapid review submission: {case['reference']}",
        )

    def test_an_unknown_format_in_the_query_is_422_naming_it(self, api: Api) -> None:
        case = api.create_case()
        response = api.client.get(
            f"/api/v1/cases/{case['id']}/submission-pack?format=pdf", headers=api.headers("chair")
        )
        problem = assert_problem(response, 422)
        assert [e["loc"] for e in problem["errors"]] == ["query.format"]


# -- who reads it -------------------------------------------------------------------------------

# The pack is for anyone who reads the case (a police referral of TW): not the education
# referrer nor the admin, nor anyone of OT (404, as for the case itself).
NOT_READERS = {"referrer_education", "admin"}


@pytest.mark.parametrize("who", [key for key, _, _ in PEOPLE])
def test_every_reader_of_the_case_gets_the_pack_and_it_is_access_logged(
    api: Api, directory: Directory, who: str
) -> None:
    case = api.create_case()
    before = snapshot(case["id"])
    for partnership in ("TW", "OT"):
        response = pack(api, case, who, partnership=partnership)
        status = 404 if partnership == "OT" or who in NOT_READERS else 200
        if status == 200:
            assert response.status_code == 200, response.text
            assert response.text.startswith(f"# Rapid review submission: {case['reference']}\n")
        else:
            assert_problem(response, 404, "/problems/case-not-found")
        (row,) = access_events(request_id=response.headers["x-request-id"])
        assert (row["action"], row["case_id"], row["status"], row["outcome"]) == (
            "case.submission_pack",
            case["id"],
            status,
            "allowed" if status == 200 else "denied",
        )
        assert row["actor_id"] == directory.user_ids[partnership][who]
    assert snapshot(case["id"]) == before


def test_a_partnership_the_case_is_shared_with_gets_the_pack(api: Api, clock: FixedClock) -> None:
    case = api.create_case()
    share_with(case["id"], "OT", clock.now())
    md, word = both(api, case, who="business", partnership="OT")
    assert md == word
    assert md.fact(SECTIONS[0], "Partner's reference") == ["POL-2026-118"]


# -- recorded text stays text ---------------------------------------------------------------------


def test_recorded_text_cannot_make_markdown_of_its_own(api: Api) -> None:
    case = api.create_case(summary="# Not a heading\n- not a list\n1. nor this\n<b>bold</b> | *x*")
    response = pack(api, case)
    lines = response.text.splitlines()
    assert not any(line.startswith(("# Not", "- not", "1. nor", "  1. nor")) for line in lines)
    assert "<b>" not in response.text
    md, word = both(api, case)
    # Read back, it is the text as recorded, in both formats.
    assert md.fact(FACTS, "Summary as referred") == [
        "# Not a heading\n- not a list\n1. nor this\n<b>bold</b> | *x*"
    ]
    assert md == word
    assert "Not a heading" not in [h for _, h in md.headings]


def test_control_characters_are_left_out_of_both_formats(api: Api) -> None:
    # Word (XML) cannot hold them; the Markdown leaves them out too, to say the same.
    case = api.create_case(summary="Bell\x07, escape\x1b and form feed\x0c left out.")
    md, word = both(api, case)
    assert word.fact(FACTS, "Summary as referred") == ["Bell, escape and form feed left out."]
    assert md == word
