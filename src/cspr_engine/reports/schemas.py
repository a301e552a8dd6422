"""API shapes for the timeliness and activity report, and what each of its figures means."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

PANEL_OUTCOMES = (
    "agrees_lcspr",
    "agrees_no_lcspr",
    "national_review",
    "further_information_requested",
)

# What each figure counts, returned with every report (JSON and CSV) and shown on its page.
DEFINITIONS: dict[str, str] = {
    "period": (
        "English calendar dates, from `from` to `to`, both included. Default: the financial "
        "year (1 April to 31 March) that contains today in England. Without `to`, the period "
        "ends at the end of the financial year containing `from`; without `from`, it starts at "
        "the start of the financial year containing `to`. At most 5 years."
    ),
    "scope": (
        "The cases of the caller's own partnership only: never a case another partnership "
        "shares with it, never another partnership's."
    ),
    "as_of": (
        "Statuses (a clock still open or breached, an action open or overdue) are as they "
        "stand at `as_of`, whatever the period."
    ),
    "activity": (
        "Events are counted from each case's append-only audit trail, once each time the "
        "trigger was fired, by the event's own date (the day it happened, not the day it was "
        "recorded here)."
    ),
    "activity.referrals": (
        "Cases whose became_aware_on (the day the local authority became aware of the "
        "incident) falls in the period."
    ),
    "activity.notifications": (
        "Notifications of the Panel (trigger notify_panel; rule D1) whose notified_on falls in "
        "the period."
    ),
    "activity.rapid_reviews_completed": (
        "Rapid reviews completed (trigger complete_rapid_review; rule D5) whose completed_on "
        "falls in the period. A rapid review completed again after the Panel asked for further "
        "information counts again."
    ),
    "activity.panel_outcomes": (
        "The Panel's responses to rapid reviews (trigger record_panel_response) whose "
        "received_on falls in the period, by outcome. Every response counts, a request for "
        "further information as well as the response that follows it."
    ),
    "activity.lcspr_commissioned": (
        "Local reviews commissioned (trigger commission_lcspr) whose "
        "terms_of_reference_agreed_on falls in the period."
    ),
    "activity.lcspr_completed": (
        "Local reviews whose final report was received (trigger receive_final_report; clock "
        "lcspr_completion, rule D7) with received_on in the period."
    ),
    "activity.lcspr_published": (
        "Final reports published (trigger publish) with published_on in the period."
    ),
    "activity.lcspr_withheld": (
        "Decisions to delay or withhold publication (trigger withhold_publication; rule D12) "
        "made in the period. The trigger takes no date of its own, so the day it was recorded "
        "(in England) counts, as it does for the workflow's clocks."
    ),
    "clocks": (
        "Statutory clocks only (advisory and local clocks alert but are no statutory breach), "
        "of cases themselves (not of their actions or information requests), whose due date, "
        "as extended, falls in the period: the period in which the duty fell due. So every "
        "clock counted can be judged, and each counts in one period only."
    ),
    "clocks.due_in_period": (
        "The clocks counted: met_on_time + met_late + breached + open + cancelled."
    ),
    "clocks.met_on_time": "Stopped by its event dated on or before the due date.",
    "clocks.met_late": "Stopped by its event dated after the due date.",
    "clocks.breached": (
        "Closed unmet once its due date had passed: cancelled after the breach (the case was "
        "withdrawn, found not notifiable or closed while the clock was overdue)."
    ),
    "clocks.open": "Still running at as_of: pending, or breached and not yet met.",
    "clocks.open_breached": (
        "Of open, those past their due date at as_of (each listed in open_breaches)."
    ),
    "clocks.cancelled": (
        "Cancelled before its due date passed (the case left the path in time): neither met "
        "nor breached."
    ),
    "clocks.extended": (
        "Clocks with at least one extension, whatever their status (each extension, with its "
        "reason, is listed in extensions)."
    ),
    "clocks.timed": (
        "Met clocks (on time or late) whose working days taken are measured. A backward clock "
        "(pre_publication_notice, due 7 working days before the planned publication) has no "
        "start to count from, and is not measured."
    ),
    "clocks.median_working_days": (
        "The median of the working days taken by the timed clocks: the England and Wales "
        "working days after the clock's start date, up to and including the date it was met. "
        "The middle value, or the mean of the two middle values for an even count; null when "
        "no clock is timed."
    ),
    "clocks.p90_working_days": (
        "The 90th percentile of the same working days, by the nearest-rank method: of the n "
        "values in ascending order, the one at rank ceil(0.9 * n). Null when no clock is timed."
    ),
    "actions.open": (
        "Improvement actions of the partnership's cases not yet done at as_of (open or in "
        "progress), whatever the period."
    ),
    "actions.overdue": (
        "Of open, those whose due date has passed at as_of (due before today in England)."
    ),
    "actions.completed": "Improvement actions completed with completed_on in the period.",
    "open_breaches": (
        "The clocks counted in open_breached: the case, the clock, its due date and the "
        "working days overdue (working days after the due date up to and including today)."
    ),
    "extensions": (
        "Every extension of the clocks counted: the case, the clock, the due date before and "
        "after, the reason, who it was agreed with, and its source (`api`: the extensions "
        "endpoint; `trigger:record_delay`: a delay recorded on the review)."
    ),
}


class ReportPeriod(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from", description="The first day of the period.")
    to: date = Field(description="The last day of the period (included).")
    financial_year: str | None = Field(
        description="`2026/27` when the period is exactly one financial year (April to March)."
    )


class ActivityCounts(BaseModel):
    referrals: int
    notifications: int
    rapid_reviews_completed: int
    panel_outcomes: dict[str, int] = Field(
        description="Every outcome of record_panel_response, with 0 for none."
    )
    lcspr_commissioned: int
    lcspr_completed: int
    lcspr_published: int
    lcspr_withheld: int


class ClockFigures(BaseModel):
    label: str
    rule: str
    basis: str
    due_in_period: int
    met_on_time: int
    met_late: int
    breached: int
    open: int
    open_breached: int
    cancelled: int
    extended: int
    timed: int
    median_working_days: float | None
    p90_working_days: int | None


class ActionFigures(BaseModel):
    open: int
    overdue: int
    completed: int


class Figures(BaseModel):
    activity: ActivityCounts
    clocks: dict[str, ClockFigures] = Field(
        description="Every statutory clock of the workflows, by key, in the order declared."
    )
    actions: ActionFigures


class ExtensionListed(BaseModel):
    case_id: uuid.UUID
    case_reference: str
    clock: str
    previous_due_on: date
    new_due_on: date
    reason: str
    agreed_with: str | None
    source: str
    extended_on: date = Field(description="The day the extension was made (in England).")


class OpenBreach(BaseModel):
    case_id: uuid.UUID
    case_reference: str
    clock: str
    label: str
    rule: str
    due_on: date
    working_days_overdue: int


class TimelinessReport(BaseModel):
    partnership: str
    period: ReportPeriod
    as_of: datetime
    figures: Figures
    open_breaches: list[OpenBreach] = Field(description="Oldest due date first.")
    extensions: list[ExtensionListed] = Field(description="In the order they were made.")
    definitions: dict[str, str] = Field(description="What each figure counts, by its path.")
