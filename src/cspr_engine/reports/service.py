"""The timeliness and activity report of a partnership for a period, its CSV form, and the CSV
export of the cases a caller can read. What each figure counts is in schemas.DEFINITIONS (and
in every report). Nothing here commits, and nothing here writes."""

from __future__ import annotations

import csv
import io
import statistics
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlmodel import Session

from cspr_engine.access import policy
from cspr_engine.accounts.schemas import Actor
from cspr_engine.deadlines import service as deadline_service
from cspr_engine.deadlines.models import Deadline
from cspr_engine.kit.clock import london_date
from cspr_engine.reports import repository
from cspr_engine.reports.exceptions import InvalidPeriod, ReportForbidden
from cspr_engine.reports.schemas import (
    DEFINITIONS,
    PANEL_OUTCOMES,
    ActionFigures,
    ActivityCounts,
    ClockFigures,
    ExtensionListed,
    Figures,
    OpenBreach,
    ReportPeriod,
    TimelinessReport,
)
from cspr_engine.workflow import service as workflow_service
from cspr_engine.workflow.definitions import ClockDef

FINANCIAL_YEAR_STARTS = 4  # April: the financial year runs 1 April to 31 March
MAX_YEARS = 5
# Dates outside these cannot be a case's and would overflow a financial year's end.
EARLIEST = date(1900, 1, 1)
LATEST = date(2999, 12, 31)
P90 = 90

# activity figure: (trigger, the data field dating the event; None: the day it was recorded)
EVENTS: dict[str, tuple[str, str | None]] = {
    "notifications": ("notify_panel", "notified_on"),
    "rapid_reviews_completed": ("complete_rapid_review", "completed_on"),
    "lcspr_commissioned": ("commission_lcspr", "terms_of_reference_agreed_on"),
    "lcspr_completed": ("receive_final_report", "received_on"),
    "lcspr_published": ("publish", "published_on"),
    # withhold_publication takes no date: the recording day counts, as it does for its clock.
    "lcspr_withheld": ("withhold_publication", None),
}
PANEL_RESPONSE = ("record_panel_response", "received_on", "outcome")
ACTION_OPEN = frozenset({"open", "in_progress"})


# -- who, and for when ------------------------------------------------------------------------


def check_may_read(actor: Actor) -> None:
    """Reports are for the roles that read every case of their partnership (policy
    `read_reports`), so a report never shows a reader a case it could not open."""
    if not policy.may(actor, policy.Permission.read_reports):
        raise ReportForbidden(
            "Reports are read by the panel chair, the business unit, the DSPs, the LSPs, the "
            "independent scrutineer and the QPD group."
        )


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    def __contains__(self, day: date | None) -> bool:
        return day is not None and self.start <= day <= self.end

    @property
    def financial_year(self) -> str | None:
        """`2026/27` when the period is exactly one financial year."""
        start, end = financial_year(self.start)
        if (start, end) != (self.start, self.end):
            return None
        return f"{start.year}/{end.year % 100:02d}"


def financial_year(day: date) -> tuple[date, date]:
    """The financial year (1 April to 31 March) that contains `day`."""
    first = day.year if day.month >= FINANCIAL_YEAR_STARTS else day.year - 1
    return date(first, FINANCIAL_YEAR_STARTS, 1), date(first + 1, FINANCIAL_YEAR_STARTS - 1, 31)


def resolve_period(*, start: date | None, end: date | None, today: date) -> Period:
    """The period asked for; a missing bound comes from the financial year of the other (or,
    with neither, of `today`). Raises InvalidPeriod naming the parameter at fault."""
    for name, value in (("from", start), ("to", end)):
        if value is not None and not EARLIEST <= value <= LATEST:
            raise InvalidPeriod(
                f"{name} must be a date from {EARLIEST} to {LATEST}.", parameter=name
            )
    if start is None:
        start = financial_year(end if end is not None else today)[0]
    if end is None:
        end = financial_year(start)[1]
    if start > end:
        raise InvalidPeriod(f"to must be on or after from ({start}).", parameter="to")
    if end >= start + relativedelta(years=MAX_YEARS):
        raise InvalidPeriod(
            f"The period may be at most {MAX_YEARS} years: to must be before "
            f"{start + relativedelta(years=MAX_YEARS)}.",
            parameter="to",
        )
    return Period(start, end)


# -- statistics -------------------------------------------------------------------------------


def median(values: Sequence[int]) -> float | None:
    """The middle value, or the mean of the two middle values; None for no values."""
    return float(statistics.median(values)) if values else None


def nearest_rank(values: Sequence[int], percent: int) -> int | None:
    """The `percent`th percentile by the nearest-rank method: of the n values in ascending
    order, the one at rank ceil(percent / 100 * n) (at least 1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-percent * len(ordered) // 100))  # ceil in integers: no float rounding
    return ordered[rank - 1]


# -- the report -------------------------------------------------------------------------------


def statutory_clocks() -> dict[str, ClockDef]:
    """Every statutory clock of the loaded workflows, by key, as the latest version of each
    workflow declares it (in its order)."""
    found: dict[str, ClockDef] = {}
    definitions = sorted(
        workflow_service.get_definitions().values(), key=lambda d: (d.name, -d.version)
    )
    for definition in definitions:
        for clock in definition.clocks.values():
            if clock.kind == "statutory":
                found.setdefault(clock.key, clock)
    return found


def timeliness(
    session: Session, *, actor: Actor, period: Period, now: datetime
) -> TimelinessReport:
    """The timeliness and activity report of `actor`'s own partnership for `period`, as of
    `now`. Raises ReportForbidden for a role that may not read it."""
    check_may_read(actor)
    assert actor.partnership_id is not None  # policy.may: a partnership's user
    today = london_date(now)
    calendar = deadline_service.current_calendar(session)
    cases = {c.id: c for c in repository.partnership_cases(session, actor.partnership_id)}
    clocks = statutory_clocks()

    activity = _activity(session, actor.partnership_id, cases.values(), period)

    # Clocks due in the period.
    deadlines = repository.statutory_clocks_due(
        session, actor.partnership_id, period.start, period.end
    )
    extensions = deadline_service.extensions_for(session, deadlines)
    tallies: dict[str, Counter[str]] = {key: Counter() for key in clocks}
    taken: dict[str, list[int]] = defaultdict(list)
    breaches: list[OpenBreach] = []
    for d in deadlines:
        clock = clocks.get(d.key)
        tally = tallies.setdefault(d.key, Counter())
        outcome = _outcome(d, clock, now)
        tally["due_in_period"] += 1
        tally[outcome] += 1
        if extensions[d.id]:
            tally["extended"] += 1
        if outcome in ("met_on_time", "met_late") and d.met_on is not None:
            if d.anchor_on is None:  # a backward clock has no start to count from
                taken[d.key].append(calendar.working_days_between(d.starts_on, d.met_on))
        if outcome == "open_breached":
            tally["open"] += 1
            breaches.append(
                OpenBreach(
                    case_id=d.case_id,
                    case_reference=cases[d.case_id].reference,
                    clock=d.key,
                    label=clock.label if clock else d.key,
                    rule=clock.rule if clock else "",
                    due_on=d.due_on,
                    working_days_overdue=max(0, calendar.working_days_between(d.due_on, today)),
                )
            )
    figures = Figures(
        activity=activity,
        clocks={
            key: _clock_figures(key, clocks.get(key), tally, taken[key])
            for key, tally in tallies.items()
        },
        actions=_action_figures(
            repository.partnership_actions(session, actor.partnership_id), period, today
        ),
    )
    made = sorted(((e, d) for d in deadlines for e in extensions[d.id]), key=lambda x: x[0].at)
    listed = [
        ExtensionListed(
            case_id=d.case_id,
            case_reference=cases[d.case_id].reference,
            clock=d.key,
            previous_due_on=e.previous_due_on,
            new_due_on=e.new_due_on,
            reason=e.reason,
            agreed_with=e.agreed_with,
            source=e.source,
            extended_on=london_date(e.at),
        )
        for e, d in made
    ]
    return TimelinessReport(
        partnership=actor.partnership_code or "",
        period=ReportPeriod(
            from_=period.start, to=period.end, financial_year=period.financial_year
        ),
        as_of=now,
        figures=figures,
        open_breaches=sorted(breaches, key=lambda b: (b.due_on, b.case_reference, b.clock)),
        extensions=listed,
        definitions=DEFINITIONS,
    )


def _activity(
    session: Session,
    partnership_id: uuid.UUID,
    cases: Iterable[repository.CaseKey],
    period: Period,
) -> ActivityCounts:
    """Referrals by the case's own date; every other event from the audit trails, by the
    date it happened."""
    triggers = {trigger for trigger, _ in EVENTS.values()} | {PANEL_RESPONSE[0]}
    counted: Counter[str] = Counter()
    outcomes: Counter[str] = Counter(dict.fromkeys(PANEL_OUTCOMES, 0))
    for event in repository.transitions(session, partnership_id, triggers):
        if event.trigger == PANEL_RESPONSE[0]:
            if _event_day(event, PANEL_RESPONSE[1]) in period:
                outcomes[str(event.data.get(PANEL_RESPONSE[2]))] += 1
            continue
        for figure, (trigger, field) in EVENTS.items():
            if event.trigger == trigger and _event_day(event, field) in period:
                counted[figure] += 1
    # Referrals of serious incidents: cases of the workflows that notify the Panel, not (say)
    # every child death notified for review.
    notifying = {
        d.name
        for d in workflow_service.get_definitions().values()
        if EVENTS["notifications"][0] in d.triggers
    }
    return ActivityCounts(
        referrals=sum(1 for c in cases if c.became_aware_on in period and c.workflow in notifying),
        panel_outcomes=dict(outcomes),
        **{figure: counted[figure] for figure in EVENTS},
    )


def _event_day(event: repository.Transition, field: str | None) -> date | None:
    """The day the event happened: its date field, or (none named) the day it was recorded."""
    if field is None:
        return london_date(event.at)
    value = event.data.get(field)
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _outcome(deadline: Deadline, clock: ClockDef | None, now: datetime) -> str:
    """met_on_time, met_late, breached (closed after its breach), open_breached, open
    (pending) or cancelled (before its due date), as of `now`."""
    status = deadline_service.effective_status(deadline, clock, now)
    match status:
        case "met":
            return "met_on_time"
        case "met_late":
            return "met_late"
        case "breached":
            return "open_breached"
        case "cancelled":
            return "breached" if deadline.breached_at is not None else "cancelled"
    return "open"


def _clock_figures(
    key: str, clock: ClockDef | None, tally: Counter[str], taken: list[int]
) -> ClockFigures:
    return ClockFigures(
        label=clock.label if clock else key,
        rule=clock.rule if clock else "",
        basis=clock.basis if clock else "",
        due_in_period=tally["due_in_period"],
        met_on_time=tally["met_on_time"],
        met_late=tally["met_late"],
        breached=tally["breached"],
        open=tally["open"],
        open_breached=tally["open_breached"],
        cancelled=tally["cancelled"],
        extended=tally["extended"],
        timed=len(taken),
        median_working_days=median(taken),
        p90_working_days=nearest_rank(taken, P90),
    )


def _action_figures(
    actions: Iterable[repository.ActionRow], period: Period, today: date
) -> ActionFigures:
    open_now = [a for a in actions if a.status in ACTION_OPEN]
    return ActionFigures(
        open=len(open_now),
        overdue=sum(1 for a in open_now if a.due_on < today),
        completed=sum(1 for a in actions if a.status == "completed" and a.completed_on in period),
    )


# -- CSV --------------------------------------------------------------------------------------

CSV_HEADER = ("section", "key", "metric", "value")
# A spreadsheet runs a cell that begins with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A value as CSV text: numbers as written, None empty, dates ISO, instants RFC 3339 UTC;
    text that a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _write(rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([csv_cell(v) for v in row] for row in rows)
    return out.getvalue()


def report_csv(report: TimelinessReport) -> str:
    """The report in long form, one figure a row: `section,key,metric,value`."""
    rows: list[tuple[Any, ...]] = [CSV_HEADER]
    rows += [
        ("report", "", "partnership", report.partnership),
        ("report", "", "from", report.period.from_),
        ("report", "", "to", report.period.to),
        ("report", "", "financial_year", report.period.financial_year),
        ("report", "", "as_of", report.as_of),
    ]
    activity = report.figures.activity.model_dump()
    outcomes = activity.pop("panel_outcomes")
    rows += [("activity", name, "count", value) for name, value in activity.items()]
    rows += [("panel_outcomes", name, "count", value) for name, value in outcomes.items()]
    rows += [
        ("clocks", key, metric, value)
        for key, figures in report.figures.clocks.items()
        for metric, value in figures.model_dump().items()
    ]
    rows += [
        ("actions", "improvement_actions", metric, value)
        for metric, value in report.figures.actions.model_dump().items()
    ]
    for section, items in (
        ("open_breaches", report.open_breaches),
        ("extensions", report.extensions),
    ):
        rows += [
            (section, index, metric, value)
            for index, item in enumerate(items, start=1)
            for metric, value in item.model_dump().items()
        ]
    rows += [("definitions", name, "definition", text) for name, text in report.definitions.items()]
    return _write(rows)


def cases_csv(session: Session, *, actor: Actor, now: datetime) -> str:
    """One row per case `actor` can read: reference, partnership, state, referring agency,
    dates, and each statutory clock's due date and status (as of `now`); no child's data."""
    clocks = statutory_clocks()
    latest: dict[tuple[Any, str], Deadline] = {}
    for d in repository.readable_statutory_clocks(session, actor):
        latest[(d.case_id, d.key)] = d  # ordered by sequence: the last is the latest
    header = [
        "reference",
        "id",
        "partnership",
        "workflow",
        "state",
        "state_label",
        "referring_agency",
        "partner_reference",
        "became_aware_on",
        "created_at",
        "closed_at",
    ]
    header += [f"{key}_{part}" for key in clocks for part in ("due_on", "status")]
    rows: list[list[Any]] = [header]
    for case in repository.readable_cases(session, actor):
        definition = workflow_service.get(case.workflow, case.workflow_version)
        row: list[Any] = [
            case.reference,
            case.id,
            case.partnership,
            case.workflow,
            case.state,
            definition.states[case.state].label,
            case.referring_agency,
            case.partner_reference,
            case.became_aware_on,
            case.created_at,
            case.closed_at,
        ]
        for key, clock in clocks.items():
            found = latest.get((case.id, key))
            row += (
                [found.due_on, deadline_service.effective_status(found, clock, now)]
                if found is not None
                else [None, None]
            )
        rows.append(row)
    return _write(rows)
