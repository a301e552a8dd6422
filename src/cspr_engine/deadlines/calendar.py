"""Working-day arithmetic for England & Wales (pure functions over a holiday set).

A working day is Monday to Friday and not an England & Wales bank holiday, Christmas Day or
Good Friday (statutory-process.md §5; precedent: Children Act 1989 Representations Procedure
(England) Regulations 2006 reg 2). Counting: the start date is day 0 and the due date is the
Nth working day after it, so a Saturday start counts the Monday as day 1.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import holidays as holidays_lib
import yaml
from dateutil.relativedelta import relativedelta

from cspr_engine.config import get_settings

HOLIDAYS_VERSION = metadata.version("holidays")


@dataclass
class WorkingCalendar:
    """Non-working days: a shipped snapshot, computed years beyond it, and admin additions."""

    snapshot: dict[date, str]
    snapshot_version: str
    covers_to: date
    additions: dict[date, str] = field(default_factory=dict)
    _computed: dict[int, dict[date, str]] = field(default_factory=dict, repr=False)
    # Per year, the weekdays the snapshot or the computed years make non-working (not the
    # additions, which differ between calendars that share this).
    _base_years: dict[int, frozenset[date]] = field(default_factory=dict, repr=False)

    @property
    def version(self) -> str:
        # The additions themselves, not just their number, identify the calendar used.
        digest = hashlib.sha256(
            ";".join(f"{d.isoformat()}={t}" for d, t in sorted(self.additions.items())).encode()
        ).hexdigest()[:8]
        extra = f"+added-{digest}" if self.additions else ""
        return f"{self.snapshot_version}+holidays-{HOLIDAYS_VERSION}{extra}"

    def with_additions(self, additions: dict[date, str]) -> WorkingCalendar:
        """This calendar and holidays proclaimed since its data was made."""
        return replace(
            self, additions=dict(additions), _computed=self._computed, _base_years=self._base_years
        )

    def holiday(self, day: date) -> str | None:
        if day in self.additions:
            return self.additions[day]
        if day <= self.covers_to:
            return self.snapshot.get(day)
        return self._beyond_snapshot(day.year).get(day)

    def _beyond_snapshot(self, year: int) -> dict[date, str]:
        if year not in self._computed:
            # subdiv ENG matters: without it GB omits Easter Monday and the summer bank holiday.
            computed = holidays_lib.country_holidays("GB", subdiv="ENG", years=year)
            self._computed[year] = {d: str(name) for d, name in computed.items()}
        return self._computed[year]

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and self.holiday(day) is None

    def add_working_days(self, start: date, days: int) -> date:
        """The `days`-th working day after `start` (start is day 0)."""
        current, counted = start, 0
        while counted < days:
            current += timedelta(days=1)
            if self.is_working_day(current):
                counted += 1
        return current

    def subtract_working_days(self, anchor: date, days: int) -> date:
        """The `days`-th working day before `anchor` (a backward clock, e.g. D8)."""
        current, counted = anchor, 0
        while counted < days:
            current -= timedelta(days=1)
            if self.is_working_day(current):
                counted += 1
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (negative when end < start).

        Weekdays by arithmetic, less the weekday holidays in the range: a page of clocks a
        year or more from today (a retention period, an old breach) counts in microseconds,
        not day by day."""
        if end < start:
            return -self.working_days_between(end, start)
        weeks, rest = divmod((end - start).days, 7)
        weekdays = 5 * weeks + sum(
            1 for offset in range(1, rest + 1) if (start.weekday() + offset) % 7 < 5
        )
        closed = {
            day
            for year in range(start.year, end.year + 1)
            for day in self._non_working_weekdays(year)
            if start < day <= end
        }
        return weekdays - len(closed)

    def _non_working_weekdays(self, year: int) -> set[date]:
        """The weekdays of `year` that are not working days, by the same rules as holiday()."""
        if year not in self._base_years:
            listed = (
                [d for d in self.snapshot if d.year == year and d <= self.covers_to]
                if year <= self.covers_to.year
                else []
            )
            beyond = [d for d in self._beyond_snapshot(year) if d > self.covers_to]
            self._base_years[year] = frozenset(d for d in listed + beyond if d.weekday() < 5)
        added = {d for d in self.additions if d.year == year and d.weekday() < 5}
        return set(self._base_years[year]) | added

    def non_working_days(self, year: int) -> list[tuple[date, str]]:
        """The holidays of `year` that fall on weekdays or are listed (for display)."""
        days = {
            d: name
            for d in (date(year, 1, 1) + timedelta(days=i) for i in range(366))
            if d.year == year and (name := self.holiday(d)) is not None
        }
        return sorted(days.items())


def add_months(start: date, months: int) -> date:
    """Calendar months with month-end clamping (31 Aug + 6 months = 28/29 Feb), D7."""
    return start + relativedelta(months=months)


def load_calendar(path: Path) -> WorkingCalendar:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    snapshot = {entry["date"]: str(entry["title"]) for entry in raw["holidays"]}
    return WorkingCalendar(
        snapshot=snapshot, snapshot_version=str(raw["version"]), covers_to=raw["covers_to"]
    )


@lru_cache
def get_calendar() -> WorkingCalendar:
    return load_calendar(get_settings().workflows_dir / "calendars" / "england-and-wales.yaml")
