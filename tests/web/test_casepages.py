"""web/casepages.py: a clock as a red/amber/green tag, the workflow as passed/current/not reached
steps, the timeline, and the dashboard (the user's partnership's cases, breaches first, then the
soonest due; filters)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest
from sqlmodel import Session

from cspr_engine.accounts import service as accounts_service
from cspr_engine.accounts.schemas import Actor
from cspr_engine.cases import repository as case_repository
from cspr_engine.cases.models import Case
from cspr_engine.db import get_engine
from cspr_engine.deadlines.schemas import DeadlineRead
from cspr_engine.web import casepages
from cspr_engine.web.casepages import (
    CaseRow,
    ClockView,
    DashboardFilters,
    clock_view,
    dashboard,
    flow,
)
from cspr_engine.workflow import service as workflow_service
from tests.conftest import NOW
from tests.factories import Api, Directory

# No incident date: a referral's incident cannot come after the day the authority knew of it.
INCIDENT = {"outcome": "serious_harm", "abuse_or_neglect": "suspected"}


def deadline(**overrides: Any) -> DeadlineRead:
    fields: dict[str, Any] = {
        "key": "panel_notification",
        "label": "Notify the Panel",
        "rule": "D1, D2",
        "basis": "Children Act 2004 s.16C(1)",
        "verification": "V-P",
        "kind": "statutory",
        "statutory": True,
        "sequence": 1,
        "status": "pending",
        "start_option": None,
        "starts_on": date(2026, 6, 10),
        "anchor_on": None,
        "due_on": date(2026, 6, 17),
        "due_at": datetime(2026, 6, 17, 22, 59, 59, tzinfo=UTC),
        "working_days_left": 5,
        "met_on": None,
        "met_at": None,
        "breached_at": None,
        "cancelled_at": None,
        "next_alert_at": None,
        "calendar_version": "test",
        "extensions": [],
    }
    fields.update(overrides)
    return DeadlineRead.model_validate(fields)


def view(**overrides: Any) -> ClockView:
    shown = clock_view(deadline(**overrides))
    assert shown is not None
    return shown


class TestClockView:
    def test_a_breached_clock_is_red(self) -> None:
        shown = view(status="breached", working_days_left=None)
        assert (shown.rag, shown.tag, shown.tag_class) == ("red", "Breached", "govuk-tag--red")
        assert shown.words == "was due 17 June 2026"

    def test_a_clock_due_today_is_amber(self) -> None:
        shown = view(working_days_left=0)
        assert (shown.rag, shown.tag, shown.tag_class) == ("amber", "Due soon", "govuk-tag--yellow")
        assert shown.words == "due today (17 June 2026)"

    @pytest.mark.parametrize(
        ("left", "words"), [(1, "1 working day left"), (2, "2 working days left")]
    )
    def test_a_clock_due_within_2_working_days_is_amber(self, left: int, words: str) -> None:
        shown = view(working_days_left=left)
        assert shown.rag == "amber"
        assert shown.tag == "Due soon"
        assert shown.words == f"{words}, due 17 June 2026"

    @pytest.mark.parametrize("left", [3, 4, 15, 120])
    def test_a_clock_with_more_than_2_working_days_left_is_green(self, left: int) -> None:
        shown = view(working_days_left=left)
        assert (shown.rag, shown.tag, shown.tag_class) == ("green", "On track", "govuk-tag--green")
        assert shown.words == f"{left} working days left, due 17 June 2026"

    def test_a_met_clock_is_done_and_grey(self) -> None:
        shown = view(status="met", working_days_left=None, met_on=date(2026, 6, 12))
        assert (shown.rag, shown.tag, shown.tag_class) == ("done", "Met", "govuk-tag--grey")
        assert shown.words == "met 12 June 2026, due 17 June 2026"
        assert view(status="met", working_days_left=None).words == "due 17 June 2026"

    def test_a_clock_met_late_says_so(self) -> None:
        shown = view(status="met_late", working_days_left=None, met_on=date(2026, 6, 18))
        assert (shown.rag, shown.tag, shown.tag_class) == (
            "met_late",
            "Met late",
            "govuk-tag--orange",
        )
        assert shown.words == "was due 17 June 2026"

    def test_a_cancelled_clock_is_not_shown(self) -> None:
        assert clock_view(deadline(status="cancelled", working_days_left=None)) is None

    def test_the_view_keeps_the_clock_it_shows(self) -> None:
        d = deadline(kind="advisory", statutory=False, label="Monitor")
        shown = clock_view(d)
        assert shown is not None
        assert shown.deadline == d
        assert (shown.label, shown.statutory, shown.due_on) == ("Monitor", False, date(2026, 6, 17))

    def test_every_tag_has_words_as_well_as_a_colour(self) -> None:
        for status in ("pending", "breached", "met", "met_late"):
            shown = view(status=status)
            assert shown.tag
            assert shown.rag in casepages.RAG_ORDER


class TestCaseRow:
    def row(self, *clocks: ClockView) -> CaseRow:
        case = cast(Case, SimpleNamespace(created_at=NOW))
        return CaseRow(case=case, state_label="Referred", clocks=list(clocks))

    def test_a_row_with_a_red_clock_is_breached(self) -> None:
        assert self.row(view(), view(status="breached")).breached
        assert not self.row(view(working_days_left=0), view(status="met_late")).breached

    def test_an_advisory_clock_past_its_date_is_red_but_no_statutory_breach(self) -> None:
        overdue_check = view(status="breached", kind="advisory", statutory=False)
        row = self.row(overdue_check, view())
        assert overdue_check.rag == "red"
        assert not row.breached
        # It is still the most urgent thing on the row.
        assert row.running[0] is overdue_check

    def test_its_clocks_show_red_amber_green_then_met_late_then_met(self) -> None:
        clocks = [
            view(status="met", due_on=date(2026, 6, 1)),
            view(working_days_left=5, due_on=date(2026, 6, 24)),
            view(status="met_late", due_on=date(2026, 6, 2)),
            view(working_days_left=1, due_on=date(2026, 6, 18)),
            view(status="breached", due_on=date(2026, 6, 8)),
            view(working_days_left=4, due_on=date(2026, 6, 23)),
        ]
        shown = self.row(*clocks).running
        assert [(c.rag, c.due_on.day) for c in shown] == [
            ("red", 8),
            ("amber", 18),
            ("green", 23),
            ("green", 24),
            ("met_late", 2),
            ("done", 1),
        ]

    def test_the_sort_key_puts_the_worst_clock_first_then_the_soonest_running_one(self) -> None:
        breached = self.row(view(status="breached", due_on=date(2026, 6, 10)))
        amber = self.row(view(working_days_left=1, due_on=date(2026, 6, 18)))
        green_soon = self.row(view(working_days_left=3, due_on=date(2026, 6, 22)))
        # Met clocks do not count towards "soonest due".
        green_later = self.row(
            view(working_days_left=4, due_on=date(2026, 6, 23)),
            view(status="met", due_on=date(2026, 6, 1)),
        )
        nothing = self.row()
        rows = [nothing, green_later, amber, green_soon, breached]
        assert sorted(rows, key=CaseRow.sort_key) == [
            breached,
            amber,
            green_soon,
            green_later,
            nothing,
        ]


class TestFlow:
    def test_the_steps_are_the_workflows_states_in_order(self) -> None:
        definition = workflow_service.latest("cspr")
        steps = flow(definition, "referred", {"referred"})
        assert [s.name for s in steps] == list(definition.states)
        assert [s.label for s in steps][:3] == ["Referred", "Rapid review", "DSP joint decision"]
        assert [s.name for s in steps if s.final] == ["closed"]

    def test_a_new_case_is_at_the_first_step_and_has_reached_no_other(self) -> None:
        steps = flow(workflow_service.latest("cspr"), "referred", {"referred"})
        assert steps[0].status == "current"
        assert {s.status for s in steps[1:]} == {"not_reached"}

    def test_passed_states_are_done_and_the_current_one_is_current(self) -> None:
        steps = flow(
            workflow_service.latest("cspr"),
            "dsp_decision",
            {"referred", "rapid_review", "dsp_decision"},
        )
        by_name = {s.name: s.status for s in steps}
        assert by_name["referred"] == "done"
        assert by_name["rapid_review"] == "done"
        assert by_name["dsp_decision"] == "current"
        assert by_name["awaiting_panel_response"] == "not_reached"
        assert by_name["closed"] == "not_reached"
        assert sum(1 for s in steps if s.status == "current") == 1

    def test_a_state_visited_again_is_current_not_done(self) -> None:
        # The Panel asked for more information: the case is back in rapid review.
        visited = {"referred", "rapid_review", "dsp_decision", "awaiting_panel_response"}
        by_name = {
            s.name: s.status for s in flow(workflow_service.latest("cspr"), "rapid_review", visited)
        }
        assert by_name["rapid_review"] == "current"
        assert by_name["awaiting_panel_response"] == "done"

    def test_only_the_current_state_carries_its_description_on_the_page(self) -> None:
        steps = flow(workflow_service.latest("cspr"), "referred", {"referred"})
        assert steps[0].description is not None
        assert "decides whether it is notifiable" in steps[0].description


# -- built from the database ------------------------------------------------------------------


@pytest.fixture
def db() -> Iterator[Session]:
    with Session(get_engine()) as s:
        yield s


def actor(db: Session, directory: Directory, who: str = "chair", partnership: str = "TW") -> Actor:
    return accounts_service.authenticate(
        session=db, secret=directory.token(who, partnership), now=NOW
    )


def new_case(api: Api, aware: str, **overrides: Any) -> dict[str, Any]:
    overrides.setdefault("incident", INCIDENT)
    return api.create_case(became_aware_on=aware, **overrides)


def references(rows: list[CaseRow]) -> list[str]:
    return [r.case.reference for r in rows]


class TestDashboard:
    def test_breached_cases_come_first_then_the_soonest_due(
        self, api: Api, directory: Directory, db: Session
    ) -> None:
        # Now is Wednesday 17 June 2026. The Panel is due 5 working days after awareness.
        green = new_case(api, "2026-06-16")["reference"]  # due 23 June: 4 working days left
        breached_later = new_case(api, "2026-06-03")["reference"]  # was due 10 June
        amber = new_case(api, "2026-06-11")["reference"]  # due 18 June: 1 working day left
        breached_first = new_case(api, "2026-06-01")["reference"]  # was due 8 June
        rows, cut = dashboard(db, actor(db, directory), DashboardFilters(), NOW)
        assert references(rows) == [breached_first, breached_later, amber, green]
        assert [r.breached for r in rows] == [True, True, False, False]
        assert [r.running[0].rag for r in rows] == ["red", "red", "amber", "green"]
        assert cut is False

    def test_a_met_clock_does_not_make_a_case_sooner(
        self, api: Api, directory: Directory, db: Session
    ) -> None:
        notified = new_case(api, "2026-06-11")
        api.ok(notified["id"], "notify_panel", {"notified_on": "2026-06-12"})
        amber = new_case(api, "2026-06-11")["reference"]
        rows, _ = dashboard(db, actor(db, directory), DashboardFilters(), NOW)
        # The notified case's next clock (the rapid review, due 2 July) is green.
        assert references(rows) == [amber, notified["reference"]]
        shown = {c.deadline.key: c.rag for c in rows[1].clocks}
        assert shown == {"panel_notification": "done", "rapid_review": "green"}

    def test_only_the_users_partnership_is_listed(
        self, api: Api, directory: Directory, db: Session
    ) -> None:
        mine = new_case(api, "2026-06-16")["reference"]
        theirs = new_case(api, "2026-06-01", partnership="OT")["reference"]
        assert references(dashboard(db, actor(db, directory), DashboardFilters(), NOW)[0]) == [mine]
        assert references(
            dashboard(db, actor(db, directory, partnership="OT"), DashboardFilters(), NOW)[0]
        ) == [theirs]

    def test_the_state_filter(self, api: Api, directory: Directory, db: Session) -> None:
        notified = new_case(api, "2026-06-16")
        api.ok(notified["id"], "notify_panel", {"notified_on": "2026-06-16"})
        new_case(api, "2026-06-16")
        rows, _ = dashboard(db, actor(db, directory), DashboardFilters(state="rapid_review"), NOW)
        assert references(rows) == [notified["reference"]]
        assert rows[0].state_label == "Rapid review"

    def test_the_agency_filter(self, api: Api, directory: Directory, db: Session) -> None:
        health = new_case(api, "2026-06-16", referring_agency="health")["reference"]
        new_case(api, "2026-06-16", referring_agency="police")
        rows, _ = dashboard(db, actor(db, directory), DashboardFilters(agency="health"), NOW)
        assert references(rows) == [health]

    def test_the_breached_filter(self, api: Api, directory: Directory, db: Session) -> None:
        breached = new_case(api, "2026-06-01")["reference"]
        new_case(api, "2026-06-11")
        new_case(api, "2026-06-16")
        rows, _ = dashboard(db, actor(db, directory), DashboardFilters(clocks="breached"), NOW)
        assert references(rows) == [breached]

    def test_the_due_soon_filter_keeps_breached_and_amber_cases(
        self, api: Api, directory: Directory, db: Session
    ) -> None:
        breached = new_case(api, "2026-06-01")["reference"]
        amber = new_case(api, "2026-06-11")["reference"]
        new_case(api, "2026-06-16")
        rows, _ = dashboard(db, actor(db, directory), DashboardFilters(clocks="due_soon"), NOW)
        assert references(rows) == [breached, amber]

    def test_closed_cases_are_left_out_unless_asked_for(
        self, api: Api, directory: Directory, db: Session
    ) -> None:
        closed = new_case(api, "2026-06-16")
        api.ok(
            closed["id"],
            "decide_not_notifiable",
            {"rationale": "Not notifiable.", "alternative_learning": "none"},
        )
        open_ = new_case(api, "2026-06-16")["reference"]
        who = actor(db, directory)
        assert references(dashboard(db, who, DashboardFilters(), NOW)[0]) == [open_]
        with_closed = dashboard(db, who, DashboardFilters(closed=True), NOW)[0]
        assert set(references(with_closed)) == {open_, closed["reference"]}
        # A closed case's clocks were cancelled: it shows none and sorts last.
        assert references(with_closed)[-1] == closed["reference"]
        assert with_closed[-1].clocks == []
        # Asking for the closed state shows them too.
        assert references(dashboard(db, who, DashboardFilters(state="closed"), NOW)[0]) == [
            closed["reference"]
        ]

    def test_filters_combine(self, api: Api, directory: Directory, db: Session) -> None:
        wanted = new_case(api, "2026-06-01", referring_agency="health")["reference"]
        new_case(api, "2026-06-01", referring_agency="police")
        new_case(api, "2026-06-16", referring_agency="health")
        rows, _ = dashboard(
            db, actor(db, directory), DashboardFilters(agency="health", clocks="breached"), NOW
        )
        assert references(rows) == [wanted]

    def test_a_long_list_is_cut_and_says_so(
        self, api: Api, directory: Directory, db: Session, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for _ in range(3):
            new_case(api, "2026-06-16")
        monkeypatch.setattr(casepages, "DASHBOARD_LIMIT", 2)
        rows, cut = dashboard(db, actor(db, directory), DashboardFilters(), NOW)
        assert (len(rows), cut) == (2, True)

    def test_no_cases_is_an_empty_list(self, directory: Directory, db: Session) -> None:
        assert dashboard(db, actor(db, directory), DashboardFilters(), NOW) == ([], False)

    def test_the_filter_choices_are_the_workflows_states_and_the_referring_agencies(
        self,
    ) -> None:
        states = dict(casepages.state_options())
        # The default workflow's states first, in its order; then the other workflows' own.
        cspr = list(workflow_service.latest("cspr").states)
        assert list(states)[: len(cspr)] == cspr
        others = {
            name
            for d in workflow_service.get_definitions().values()
            for name in d.states
            if name not in cspr
        }
        assert set(list(states)[len(cspr) :]) == others
        assert states["dsp_decision"] == "DSP joint decision"
        agencies = dict(casepages.agency_options())
        assert agencies["local_authority"] == "Local authority"
        assert {"child_death_review", "coroner", "police", "health"} <= set(agencies)


class TestCasePage:
    def page(
        self, db: Session, directory: Directory, case_id: str, who: str = "chair"
    ) -> casepages.CasePage:
        db.rollback()  # a fresh snapshot: the API changed the case since this session looked
        me = actor(db, directory, who)
        case = case_repository.get_visible(db, me, case_id)
        assert case is not None
        return casepages.case_page(db, case, me, NOW)

    def test_the_timeline_is_newest_first_in_words(
        self, api: Api, directory: Directory, db: Session
    ) -> None:
        case = new_case(api, "2026-06-10")
        api.ok(
            case["id"],
            "notify_panel",
            {"notified_on": "2026-06-12", "panel_reference": "CSPRP-1"},
            who="chair",
        )
        page = self.page(db, directory, case["id"])
        assert [e.title for e in page.entries] == ["Notify the Panel", "Referral recorded"]
        notified = page.entries[0]
        assert notified.who == "chair"
        assert (notified.from_label, notified.to_label) == ("Referred", "Rapid review")
        assert notified.data == [
            ("Date the Panel was notified", "12 June 2026"),
            ("Notification reference", "CSPRP-1"),
        ]
        assert notified.basis is not None
        assert "16C" in notified.basis
        # The referral's content (summary, partner reference) is not repeated in the timeline.
        assert page.entries[1].data == []
        assert page.entries[1].to_label == "Referred"

    def test_the_flow_follows_the_audit_trail(
        self, api: Api, directory: Directory, db: Session
    ) -> None:
        case = new_case(api, "2026-06-10")
        api.ok(case["id"], "notify_panel", {"notified_on": "2026-06-12"})
        statuses = {s.name: s.status for s in self.page(db, directory, case["id"]).steps}
        assert statuses["referred"] == "done"
        assert statuses["rapid_review"] == "current"
        assert statuses["dsp_decision"] == "not_reached"

    def test_the_clocks_show_breaches_first_and_leave_out_cancelled_ones(
        self, api: Api, directory: Directory, db: Session
    ) -> None:
        case = new_case(api, "2026-06-01")
        clocks = self.page(db, directory, case["id"]).clocks
        assert [(c.deadline.key, c.rag) for c in clocks] == [
            ("panel_notification", "red"),
            ("rapid_review", "green"),
        ]
        api.ok(
            case["id"],
            "decide_not_notifiable",
            {"rationale": "Not notifiable.", "alternative_learning": "none"},
        )
        page = self.page(db, directory, case["id"])
        assert page.clocks == []
        assert page.actions == []  # a closed case offers nothing to do

    def test_the_actions_are_what_this_role_may_do_now(
        self, api: Api, directory: Directory, db: Session
    ) -> None:
        case = new_case(api, "2026-06-10")
        chair = [a.trigger for a in self.page(db, directory, case["id"]).actions]
        assert chair == ["notify_panel", "decide_not_notifiable"]
        business = [a.trigger for a in self.page(db, directory, case["id"], "business").actions]
        assert business == ["notify_panel"]
        assert self.page(db, directory, case["id"], "dsp_police").actions == []
        notify = self.page(db, directory, case["id"]).actions[0]
        assert notify.label == "Notify the Panel"
        assert [f.name for f in notify.form.fields] == [
            "notified_on",
            "panel_reference",
            "partners_informed_on",
        ]

    def test_a_dsp_gets_a_vote_form_for_its_own_agency_only(
        self, api: Api, directory: Directory, db: Session
    ) -> None:
        case = new_case(api, "2026-06-10")
        api.ok(case["id"], "notify_panel", {"notified_on": "2026-06-12"})
        api.ok(
            case["id"],
            "complete_rapid_review",
            {
                "completed_on": "2026-06-16",
                "recommendation": "lcspr",
                "criteria": ["a"],
                "rationale": "Learning.",
            },
        )
        votes = {v.gate.gate: v for v in self.page(db, directory, case["id"], "dsp_police").votes}
        assert votes["dsp_joint_decision"].party == "dsp:police"
        assert votes["dsp_joint_decision"].gate.status == "open"
        assert [f.name for f in votes["dsp_joint_decision"].form.fields] == [
            "decision",
            "rationale",
            "decided_on",
        ]
        assert votes["dsp_joint_decision"].form.fields[0].options == (
            ("agree", "Agree"),
            ("disagree", "Disagree"),
        )
        chair = {v.gate.gate: v for v in self.page(db, directory, case["id"]).votes}
        assert chair["dsp_joint_decision"].party is None


# -- another workflow: a child death review case, and the choice of workflow on a new referral --

CDR = "child_death_review"
REFER = "refer_for_safeguarding_review"


def cdr_case(api: Api, who: str = "business", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "workflow": CDR,
        "became_aware_on": "2026-06-15",
        "referring_agency": "health",
        "incident": {"occurred_on": "2026-06-14", "outcome": "death"},
        **overrides,
    }
    body["incident"].setdefault("abuse_or_neglect", "not_suspected")
    response = api.client.post("/api/v1/cases", json=body, headers=api.headers(who))
    assert response.status_code == 201, response.text
    return dict(response.json())


class TestChildDeathReviewCasePage:
    def page(self, db: Session, directory: Directory, key: str, who: str = "business") -> Any:
        db.rollback()
        me = actor(db, directory, who)
        case = case_repository.get_visible(db, me, key)
        assert case is not None
        return casepages.case_page(db, case, me, NOW)

    def test_its_steps_actions_and_clocks_are_its_own_workflows(
        self, api: Api, directory: Directory, db: Session
    ) -> None:
        case = cdr_case(api)
        page = self.page(db, directory, case["id"])
        definition = workflow_service.latest(CDR)
        assert [s.name for s in page.steps] == list(definition.states)
        assert page.steps[0].status == "current"
        assert [(c.deadline.key, c.statutory) for c in page.clocks] == [
            ("cdop_notification", False)
        ]
        assert [a.trigger for a in page.actions] == [
            "record_cdop_notification",
            "start_joint_agency_response",
            "refer_to_review_meeting",
            "withdraw",
            REFER,
        ]
        jar = next(a for a in page.actions if a.trigger == "start_joint_agency_response")
        criterion = jar.form.by_name()["jar_criterion"]
        assert criterion.kind == "radios"
        assert len(criterion.options) == 5
        # A read-only role reads it and is offered nothing to do.
        assert self.page(db, directory, case["id"], "scrutineer").actions == []

    def test_the_referral_shows_the_opened_case_on_both_timelines(
        self, api: Api, directory: Directory, db: Session
    ) -> None:
        case = cdr_case(api)
        data = {
            "abuse_or_neglect": "suspected",
            "became_aware_on": "2026-06-16",
            "concerns": "Bruising noted at the hospital.",
        }
        opened = api.ok(case["id"], REFER, data)["recorded"][REFER]["opened_case"]
        source = self.page(db, directory, case["id"])
        assert source.entries[0].title == (
            "Refer to the safeguarding partners (abuse or neglect known or suspected)"
        )
        assert ("Opened case", opened) in source.entries[0].data
        new = self.page(db, directory, opened)
        assert new.read.workflow == "cspr"
        assert new.entries[-1].title == "Referral recorded"
        assert new.entries[-1].data == [("Opened from", case["reference"])]


# -- the new-referral form over HTTP ----------------------------------------------------------


@pytest.fixture
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Sign-in through the API, with argon2 at a test's cost (tests/accounts covers the real one).
    from argon2 import PasswordHasher

    monkeypatch.setattr(
        accounts_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


@pytest.fixture
def signed_in(app: Any, directory: Directory, cheap_hashing: None) -> Iterator[Any]:
    """signed_in("business") -> (a client with its session cookie, its CSRF token)."""
    from fastapi.testclient import TestClient

    from tests.factories import set_password, sign_in

    made: list[TestClient] = []

    def make(who: str) -> tuple[TestClient, str]:
        email = f"{who}@tw.example"
        set_password(email)
        client = TestClient(app, follow_redirects=False)
        made.append(client)
        response = sign_in(client, email)
        assert response.status_code == 200, response.text
        return client, str(response.json()["csrf_token"])

    yield make
    for client in made:
        client.close()


def referral_fields(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "became_aware_on-day": "15",
        "became_aware_on-month": "6",
        "became_aware_on-year": "2026",
        "referring_agency": "health",
        "incident.outcome": "death",
        "incident.abuse_or_neglect": "not_suspected",
        "child.legal_status": "",
    }
    body.update(overrides)
    return body


def radios(html: str, name: str) -> list[str]:
    import re

    return re.findall(rf'name="{re.escape(name)}" type="radio" value="([^"]*)"', html)


def cases_stored() -> list[tuple[str, str]]:
    from sqlalchemy import text

    with get_engine().connect() as conn:
        rows = conn.execute(text("SELECT reference, workflow FROM cases ORDER BY reference"))
        return [(r[0], r[1]) for r in rows]


class TestNewReferralChoosesTheWorkflow:
    def test_a_role_open_to_both_workflows_chooses_by_title(self, signed_in: Any) -> None:
        client, _ = signed_in("business")
        html = client.get("/ui/cases/new").text
        assert radios(html, "workflow") == ["cspr", CDR]
        for name in ("cspr", CDR):
            assert workflow_service.latest(name).title in html
        assert radios(html, "incident.abuse_or_neglect") == [
            "known",
            "suspected",
            "not_suspected",
        ]

    def test_a_role_open_to_one_workflow_sees_the_form_as_before(self, signed_in: Any) -> None:
        client, _ = signed_in("chair")
        html = client.get("/ui/cases/new").text
        assert radios(html, "workflow") == []
        assert radios(html, "incident.outcome") == ["death", "serious_harm"]
        assert radios(html, "incident.abuse_or_neglect") == ["known", "suspected"]
        assert "The 5 working day clock to notify the Panel starts here" in html

    def test_a_role_open_to_another_workflow_only_is_told_which(
        self, signed_in: Any, api: Api
    ) -> None:
        # The local authority's DSP notifies deaths; it does not refer serious incidents.
        client, csrf = signed_in("dsp_la")
        html = client.get("/ui/cases/new").text
        assert radios(html, "workflow") == []
        title = workflow_service.latest(CDR).title
        assert f"This records a case of: {title}." in html
        assert radios(html, "incident.outcome") == ["death"]
        assert "clocks count from this date" in html
        response = client.post("/ui/cases/new", data={"csrf_token": csrf, **referral_fields()})
        assert response.status_code == 303, response.text
        assert api.get_case("TW-2026-0001")["workflow"] == CDR

    def test_a_child_death_is_recorded_in_the_chosen_workflow(
        self, signed_in: Any, api: Api
    ) -> None:
        client, csrf = signed_in("business")
        response = client.post(
            "/ui/cases/new", data={"csrf_token": csrf, "workflow": CDR, **referral_fields()}
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/ui/cases/TW-2026-0001"
        case = api.get_case("TW-2026-0001")
        assert (case["workflow"], case["state"]) == (CDR, "death_notified")
        assert case["incident"]["abuse_or_neglect"] == "not_suspected"
        assert [d["key"] for d in case["deadlines"]] == ["cdop_notification"]

    @pytest.mark.parametrize("choice", [None, "", "no_such_workflow"])
    def test_without_a_choice_nothing_is_recorded(self, signed_in: Any, choice: str | None) -> None:
        client, csrf = signed_in("business")
        data = {"csrf_token": csrf, **referral_fields(referring_agency="")}
        if choice is not None:
            data["workflow"] = choice
        response = client.post("/ui/cases/new", data=data)
        assert response.status_code == 422
        # The choice first, and the other fields' errors with it.
        assert 'href="#workflow">Select the kind of case</a>' in response.text
        assert 'href="#referring-agency">Select the referring agency</a>' in response.text
        assert cases_stored() == []

    def test_a_workflow_that_does_not_take_the_incident_says_so_on_its_field(
        self, signed_in: Any
    ) -> None:
        client, csrf = signed_in("business")
        response = client.post(
            "/ui/cases/new", data={"csrf_token": csrf, "workflow": "cspr", **referral_fields()}
        )
        assert response.status_code == 422
        assert 'id="incident-abuse-or-neglect-error"' in response.text
        assert "must be one of known, suspected for a cspr case" in response.text
        # What was chosen and typed is kept.
        assert 'value="cspr" checked' in response.text
        assert cases_stored() == []

    def test_the_referral_trigger_says_which_case_it_opened(self, signed_in: Any, api: Api) -> None:
        case = cdr_case(api)
        client, csrf = signed_in("business")
        response = client.post(
            f"/ui/cases/{case['reference']}/transitions/{REFER}",
            data={
                "csrf_token": csrf,
                "version": str(case["version"]),
                "abuse_or_neglect": "known",
                "became_aware_on-day": "16",
                "became_aware_on-month": "6",
                "became_aware_on-year": "2026",
                "concerns": "Disclosure by a sibling.",
                "categories": ["neglect"],
            },
        )
        assert response.status_code == 303, response.text
        assert "Opened TW-2026-0002" in response.cookies["cspr_flash"].replace("%20", " ")
        assert cases_stored() == [("TW-2026-0001", CDR), ("TW-2026-0002", "cspr")]
        page = client.get(f"/ui/cases/{case['reference']}").text
        assert "TW-2026-0002" in page


def test_the_case_page_offers_the_submission_pack_only_where_there_is_a_rapid_review(
    signed_in: Any, api: Api
) -> None:
    client, _csrf = signed_in("business")
    death = cdr_case(api)
    cspr = api.create_case(who="chair")
    cdr_page = client.get(f"/ui/cases/{death['reference']}")
    cspr_page = client.get(f"/ui/cases/{cspr['reference']}")
    assert (cdr_page.status_code, cspr_page.status_code) == (200, 200)
    assert "submission-pack" not in cdr_page.text
    assert f"/ui/cases/{cspr['reference']}/submission-pack?format=docx" in cspr_page.text
