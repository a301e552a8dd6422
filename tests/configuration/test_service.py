"""configuration.service: the settings a workflow marks configurable, and the clock rules one
configuration version gives (start, due rule, ladder), against dates worked by hand."""

from __future__ import annotations

from datetime import date

import pytest

from cspr_engine.config import get_settings
from cspr_engine.configuration.service import DEFAULTS, Rules, check_values, settings_of
from cspr_engine.deadlines.calendar import get_calendar
from cspr_engine.deadlines.service import compute_due, rung_instant
from cspr_engine.errors import InvalidData
from cspr_engine.workflow import service as workflow_service
from cspr_engine.workflow.definitions import WorkflowDefinition


@pytest.fixture
def cspr() -> WorkflowDefinition:
    return workflow_service.latest("cspr")


def test_each_setting_is_one_the_file_marks(cspr: WorkflowDefinition) -> None:
    marked = {f"clocks.{c.key}.{what}" for c in cspr.clocks.values() for what in c.configurable} | {
        f"escalation.{r.name}.offset_working_days" for r in cspr.escalation if r.configurable
    }
    assert {s.key for s in settings_of(cspr)} == marked


def test_a_quality_check_every_two_months_falls_due_two_calendar_months_on(
    cspr: WorkflowDefinition,
) -> None:
    clock = cspr.clocks["lcspr_quality_check"]
    calendar = get_calendar()
    rules = Rules(version=1, values={"clocks.lcspr_quality_check.due": 2})
    # Month arithmetic clamps to the month's end (statutory-process.md §5.4).
    assert compute_due(clock, date(2026, 12, 31), calendar) == date(2027, 1, 31)
    assert compute_due(clock, date(2026, 12, 31), calendar, rules) == date(2027, 2, 28)


def test_a_delay_notice_of_three_working_days_skips_christmas(cspr: WorkflowDefinition) -> None:
    clock = cspr.clocks["delay_notice"]
    rules = Rules(version=3, values={"clocks.delay_notice.due": 3})
    # Tuesday 22 December 2026: 23, 24, (25, 26, 27, 28 off: Christmas, Boxing Day on a
    # Saturday, its substitute Monday 28) 29.
    assert compute_due(clock, date(2026, 12, 22), get_calendar(), rules) == date(2026, 12, 29)
    assert compute_due(clock, date(2026, 12, 22), get_calendar()) == date(2026, 12, 31)


def test_the_ladder_moves_only_the_rungs_marked_configurable(cspr: WorkflowDefinition) -> None:
    clock = cspr.clocks["rapid_review"]
    rules = Rules(
        version=2,
        values={
            "escalation.warning.offset_working_days": -5,
            "escalation.escalation.offset_working_days": 10,
        },
    )
    offsets = [(r.name, r.offset_working_days) for r in rules.ladder(cspr, clock)]
    assert offsets == [("warning", -5), ("breach", 0), ("escalation", 10)]
    assert [r.offset_working_days for r in DEFAULTS.ladder(cspr, clock)] == [-2, 0, 5]
    # A clock with its own ladder keeps it; a minimum period has none.
    own = cspr.clocks["action_due"]
    assert rules.ladder(cspr, own) == own.escalation
    assert rules.ladder(cspr, cspr.clocks["publication_retention"]) == ()
    # Due Friday 19 June 2026: the warning 5 working days before is Friday 12 June.
    warning = rules.ladder(cspr, clock)[0]
    assert rung_instant(warning, date(2026, 6, 19), get_calendar()).date() == date(2026, 6, 12)


def test_the_partnership_start_wins_over_the_service_wide_one(
    cspr: WorkflowDefinition, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = cspr.clocks["rapid_review"]
    assert DEFAULTS.start_option(clock) == "became_aware_on"
    monkeypatch.setattr(get_settings(), "clock_start_options", {"rapid_review": "notified_on"})
    assert DEFAULTS.start_option(clock) == "notified_on"
    chosen = Rules(version=1, values={"clocks.rapid_review.start": "became_aware_on"})
    assert chosen.start_option(clock) == "became_aware_on"
    assert chosen.start_option(cspr.clocks["panel_notification"]) is None


def test_values_are_checked_together_and_each_fault_named(cspr: WorkflowDefinition) -> None:
    with pytest.raises(InvalidData) as caught:
        check_values(
            cspr,
            {
                "clocks.rapid_review.start": "notified_on",
                "clocks.lcspr_completion.start": "someday",
                "escalation.warning.offset_working_days": True,
                "clocks.nothing.due": 3,
            },
        )
    assert [e.loc for e in caught.value.errors] == [
        "values.clocks.lcspr_completion.start",
        "values.escalation.warning.offset_working_days",
        "values.clocks.nothing.due",
    ]
