"""Time enters the engine here and nowhere else: rules take `now` as an argument."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
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


async def get_clock() -> Clock:
    # async: nothing blocks here, so FastAPI calls it on the event loop, not in a thread.
    return SystemClock()


ClockDep = Annotated[Clock, Depends(get_clock)]


def window_wait(recent: list[datetime], per_window: int, window: timedelta, now: datetime) -> int:
    """Seconds until one more event may happen when at most `per_window` may fall in any
    `window` (a sliding window), given the times of the recent ones, oldest first; 0 if now."""
    if len(recent) < per_window:
        return 0
    # Room for one more once enough of them have left the window.
    frees_at = recent[len(recent) - per_window] + window
    return max(0, math.ceil((frees_at - now).total_seconds()))
