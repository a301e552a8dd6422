"""Time enters the engine here and nowhere else: rules take `now` as an argument."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Protocol
from zoneinfo import ZoneInfo

from fastapi import Depends

LONDON = ZoneInfo("Europe/London")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until moved; for tests and replays."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at.astimezone(UTC)


def london_date(instant: datetime) -> date:
    """The calendar date in England of an instant (statutory dates are English dates)."""
    return instant.astimezone(LONDON).date()


def get_clock() -> Clock:
    return SystemClock()


ClockDep = Annotated[Clock, Depends(get_clock)]
