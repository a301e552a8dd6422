"""information_requests.service on its own: the stages in which agencies may be asked (read
from the workflow, not named in code) and the default due date."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import Session

from cspr_engine.information_requests import service
from cspr_engine.workflow import service as workflow_service
from cspr_engine.workflow.definitions import WorkflowDefinition


@pytest.fixture
def cspr() -> WorkflowDefinition:
    return workflow_service.latest("cspr")


def without(definition: WorkflowDefinition, **changes: object) -> WorkflowDefinition:
    return definition.model_copy(update=changes)


def test_agencies_are_asked_until_no_rapid_review_can_follow(cspr: WorkflowDefinition) -> None:
    # The Panel may send a submitted rapid review back for more information.
    assert service.open_states(cspr) == {
        "referred",
        "rapid_review",
        "dsp_decision",
        "awaiting_panel_response",
    }


def test_a_workflow_without_the_guard_or_the_clock_takes_no_requests(
    cspr: WorkflowDefinition,
) -> None:
    triggers = {
        name: t.model_copy(update={"guards": ()}) if name == "complete_rapid_review" else t
        for name, t in cspr.triggers.items()
    }
    assert service.open_states(without(cspr, triggers=triggers)) == frozenset()
    clocks = {k: c for k, c in cspr.clocks.items() if k != "information_return"}
    assert service.open_states(without(cspr, clocks=clocks)) == frozenset()


@pytest.mark.parametrize(
    ("today", "due"),
    [
        (date(2026, 6, 17), date(2026, 6, 24)),  # Wednesday: the next Wednesday
        (date(2026, 6, 20), date(2026, 6, 26)),  # Saturday: Monday is day 1
        (date(2026, 8, 26), date(2026, 9, 3)),  # over the summer bank holiday
        (date(2026, 12, 22), date(2026, 12, 31)),  # over Christmas and Boxing Day
    ],
)
def test_the_default_due_date_is_five_working_days_on(
    session: Session, today: date, due: date
) -> None:
    assert service.default_due_on(session, today) == due
