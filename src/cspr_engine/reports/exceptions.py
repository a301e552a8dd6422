"""Errors about reports (see the tree in cspr_engine.errors)."""

from __future__ import annotations

from cspr_engine.errors import Forbidden, InvalidQuery


class ReportForbidden(Forbidden):
    slug, title = "report-forbidden", "Your role may not read the partnership's reports"


class InvalidPeriod(InvalidQuery):
    """`from` after `to`, or a period longer than the report covers (the `parameter` member
    names the one to change)."""

    slug, title = "invalid-period", "The report period is not valid"
