"""Errors about clocks and the calendar."""

from __future__ import annotations

from cspr_engine.errors import Conflict, Forbidden, NotFound, Unprocessable


class ClockNotFound(NotFound):
    slug, title = "clock-not-found", "The workflow has no such clock"


class ClockNotOpen(Conflict):
    slug, title = "clock-not-open", "The clock is not running"


class ExtensionForbidden(Forbidden):
    slug, title = "extension-forbidden", "Your role may not extend this clock"


class HolidayRefused(Unprocessable):
    slug, title = "holiday-refused", "The day cannot be added to the calendar"


class HolidayNotAdded(NotFound):
    slug, title = "holiday-not-added", "No day added to the calendar on that date"
