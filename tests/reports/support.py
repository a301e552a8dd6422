"""The report tests' fixture set: cases of partnership TW driven over the API through their
steps, the frozen clock set to noon in London on each step's own date, so each statutory clock
ends the way the tests' hand-computed figures say (on time, late, breached and closed,
breached and open, extended, cancelled); and cases the report must not count (another
partnership's, one shared in from it).

England & Wales non-working days in the period: Good Friday 3 April, Easter Monday 6 April,
4 May and 25 May 2026 (and every weekend). The suite's clock stands at Wednesday 17 June 2026,
10:00 in London; each builder leaves it there."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from cspr_engine.kit.clock import FixedClock
from tests.conftest import NOW
from tests.factories import Api

LONDON = ZoneInfo("Europe/London")
DSPS = ("dsp_la", "dsp_police", "dsp_health")


def at(day: str, hour: int = 12) -> datetime:
    """`hour` o'clock in London on `day`."""
    return datetime.combine(date.fromisoformat(day), time(hour), tzinfo=LONDON)


@dataclass
class Driver:
    """Fires each step as the superuser (who holds every case role) on the step's own date."""

    api: Api
    clock: FixedClock
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)

    def open(
        self, name: str, aware: str, *, created: str | None = None, partnership: str = "TW"
    ) -> dict[str, Any]:
        self.clock.set(at(created or aware))
        incident = {
            "occurred_on": aware,
            "outcome": "serious_harm",
            "abuse_or_neglect": "suspected",
            "categories": ["neglect"],
        }
        case = self.api.create_case(
            who="chair", partnership=partnership, became_aware_on=aware, incident=incident
        )
        self.cases[name] = case
        return case

    def ref(self, name: str) -> str:
        return str(self.cases[name]["reference"])

    def fire(self, name: str, trigger: str, on: str, **data: Any) -> dict[str, Any]:
        self.clock.set(at(on))
        return self.api.ok(self.cases[name]["id"], trigger, data)

    def notify(self, name: str, on: str) -> None:
        self.fire(name, "notify_panel", on, notified_on=on)

    def complete(self, name: str, on: str, recommendation: str = "lcspr") -> None:
        criteria = ["a"] if recommendation == "lcspr" else []
        self.fire(
            name,
            "complete_rapid_review",
            on,
            completed_on=on,
            recommendation=recommendation,
            criteria=criteria,
            rationale="Criteria considered.",
        )

    def agree(self, name: str, *days: str) -> None:
        """The three DSPs agree, each on its day (recorded on the latest)."""
        self.clock.set(at(max(days)))
        for who, day in zip(DSPS, days, strict=True):
            response = self.api.vote(self.cases[name]["id"], who, "agree", decided_on=day)
            assert response.status_code == 200, response.text

    def submit(self, name: str, on: str) -> None:
        self.fire(name, "submit_rapid_review", on, submitted_on=on)

    def respond(self, name: str, on: str, outcome: str) -> None:
        self.fire(name, "record_panel_response", on, received_on=on, outcome=outcome)

    def commission(self, name: str, on: str) -> None:
        self.fire(
            name,
            "commission_lcspr",
            on,
            reviewer="An independent reviewer",
            methodology="Systems approach",
            terms_of_reference_agreed_on=on,
            scope_from="2025-01-01",
            scope_to=self.cases[name]["became_aware_on"],
        )

    def final_report(self, name: str, on: str) -> None:
        self.fire(name, "receive_final_report", on, received_on=on, recommendations="Four of them.")

    def extend(self, name: str, key: str, on: str, **body: Any) -> dict[str, Any]:
        self.clock.set(at(on))
        response = self.api.client.post(
            f"/api/v1/cases/{self.cases[name]['id']}/deadlines/{key}/extensions",
            json=body,
            headers=self.api.headers("chair"),
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def action(self, name: str, due_on: str, partnership: str = "TW") -> str:
        response = self.api.client.post(
            f"/api/v1/cases/{self.cases[name]['id']}/actions",
            json={
                "source": "other",
                "description": "Review the safe-sleep advice given by health visitors.",
                "owner_agency": "health",
                "due_on": due_on,
            },
            headers=self.api.headers("qpd", partnership),
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def update_action(self, name: str, action_id: str, **body: Any) -> None:
        response = self.api.client.patch(
            f"/api/v1/cases/{self.cases[name]['id']}/actions/{action_id}",
            json=body,
            headers=self.api.headers("qpd"),
        )
        assert response.status_code == 200, response.text


def build(api: Api, clock: FixedClock) -> Driver:
    """The fixture set (what each case's clocks come to is worked out in test_timeliness.py).

    In the financial year 2026/27:
      A  aware Wed 1 April: notified 2 April; rapid review completed 14 April, agreed 15 April,
         submitted 16 April; the Panel agrees a local review 22 April; commissioned 24 April;
         final report 14 May; publication planned for 5 June, report sent 20 May, published
         5 June. Actions: one due 10 June still open (overdue), one due 31 July in progress.
      F  aware Tue 7 April: notified 14 April; completed 27 April, agreed 28 April, submitted
         30 April (late); the Panel agrees a local review 6 May; commissioned 8 May; a delay
         recorded 29 May moves completion to 30 November; final report 1 June; publication
         planned for 15 June, the report sent late on 5 June (planned 16 June); publication
         withheld on 12 June.
      D  aware Mon 20 April, referred late on 29 April and found not notifiable the same day.
      B  aware Fri 1 May: notified 13 May (late); the chair extends the rapid review on 20 May
         to 9 June; completed 3 June, agreed 4 June, submitted 5 June; the Panel asks for more
         on 12 June; completed again 15 June, agreed and submitted 16 June; the Panel agrees no
         local review 17 June. Actions: one completed 16 June, one closed with a rationale.
      C  aware Mon 18 May: notified 20 May; the rapid review never submitted. An action due
         today, 17 June.
      E  aware Mon 15 June, referred the same day.
    Before it:
      P  aware Wed 25 March 2026: notified 1 April; withdrawn 16 April.
      Q  aware Mon 2 March 2026: notified 4 March; still in rapid review. An action completed
         31 March 2026.
    Not TW's own: O, an OT case (aware 11 May, notified late on 20 May), shared with TW, and
    an OT action overdue.
    """
    d = Driver(api, clock)

    d.open("Q", "2026-03-02")
    d.notify("Q", "2026-03-04")

    d.open("P", "2026-03-25")
    d.notify("P", "2026-04-01")
    d.fire("P", "withdraw", "2026-04-16", rationale="The criteria are not met after all.")

    d.open("A", "2026-04-01")
    d.notify("A", "2026-04-02")
    d.complete("A", "2026-04-14")
    d.agree("A", "2026-04-15", "2026-04-15", "2026-04-15")
    d.submit("A", "2026-04-16")
    d.respond("A", "2026-04-22", "agrees_lcspr")
    d.commission("A", "2026-04-24")
    d.final_report("A", "2026-05-14")
    d.fire("A", "schedule_publication", "2026-05-15", planned_publication_on="2026-06-05")
    d.fire(
        "A",
        "send_to_panel_and_sos",
        "2026-05-20",
        sent_on="2026-05-20",
        planned_publication_on="2026-06-05",
    )
    d.fire("A", "publish", "2026-06-05", published_on="2026-06-05", url="https://tw.example/a.pdf")

    d.open("F", "2026-04-07")
    d.notify("F", "2026-04-14")
    d.complete("F", "2026-04-27")
    d.agree("F", "2026-04-27", "2026-04-28", "2026-04-28")
    d.submit("F", "2026-04-30")
    d.respond("F", "2026-05-06", "agrees_lcspr")
    d.commission("F", "2026-05-08")
    d.fire(
        "F",
        "record_delay",
        "2026-05-29",
        reason="The reviewer is unwell.",
        revised_completion_on="2026-11-30",
        panel_and_sos_informed_on="2026-05-29",
    )
    d.final_report("F", "2026-06-01")
    d.fire("F", "schedule_publication", "2026-06-02", planned_publication_on="2026-06-15")
    d.fire(
        "F",
        "send_to_panel_and_sos",
        "2026-06-05",
        sent_on="2026-06-05",
        planned_publication_on="2026-06-16",
    )
    d.fire(
        "F",
        "withhold_publication",
        "2026-06-12",
        reason="Criminal proceedings are pending.",
        improvements_only=False,
    )

    d.open("D", "2026-04-20", created="2026-04-29")
    d.fire(
        "D",
        "decide_not_notifiable",
        "2026-04-29",
        rationale="Not a serious incident as defined.",
        alternative_learning="single_agency_review",
    )

    d.open("B", "2026-05-01")
    d.notify("B", "2026-05-13")
    d.extend(
        "B",
        "rapid_review",
        "2026-05-20",
        new_due_on="2026-06-09",
        reason="Police disclosure is delayed.",
        agreed_with="The Panel secretariat",
    )
    d.complete("B", "2026-06-03", "no_lcspr")
    d.agree("B", "2026-06-04", "2026-06-04", "2026-06-04")
    d.submit("B", "2026-06-05")
    d.respond("B", "2026-06-12", "further_information_requested")
    d.complete("B", "2026-06-15", "no_lcspr")
    d.agree("B", "2026-06-16", "2026-06-16", "2026-06-16")
    d.submit("B", "2026-06-16")
    d.respond("B", "2026-06-17", "agrees_no_lcspr")

    d.open("C", "2026-05-18")
    d.notify("C", "2026-05-20")

    d.open("E", "2026-06-15")
    clock.set(NOW)

    # Improvement actions, all added today.
    overdue = d.action("A", "2026-06-10")
    assert overdue
    running = d.action("A", "2026-07-31")
    d.update_action("A", running, status="in_progress")
    done = d.action("B", "2026-06-30")
    d.update_action("B", done, status="completed", completed_on="2026-06-16")
    dropped = d.action("B", "2026-06-01")
    d.update_action(
        "B", dropped, status="closed_with_rationale", closure_rationale="Overtaken.", note="x"
    )
    d.action("C", "2026-06-17")
    earlier = d.action("Q", "2026-03-31")
    d.update_action("Q", earlier, status="completed", completed_on="2026-03-31")

    # Another partnership's case, shared with TW, and its overdue action.
    d.open("O", "2026-05-11", partnership="OT")
    _ot_ok(d, "O", "notify_panel", "2026-05-20", notified_on="2026-05-20")
    clock.set(NOW)
    d.action("O", "2026-06-01", partnership="OT")
    shared = api.client.post(
        f"/api/v1/cases/{d.cases['O']['id']}/shares",
        json={"partnership": "TW", "reason": "The child now lives in TW's area."},
        headers=api.headers("chair", "OT"),
    )
    assert shared.status_code == 201, shared.text
    clock.set(NOW)
    return d


def _ot_ok(d: Driver, name: str, trigger: str, on: str, **data: Any) -> None:
    d.clock.set(at(on))
    response: httpx.Response = d.api.fire(
        d.cases[name]["id"], trigger, data, who="superuser", partnership="OT"
    )
    assert response.status_code == 200, response.text
