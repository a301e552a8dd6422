"""Errors of the exports (see the tree in cspr_engine.errors)."""

from __future__ import annotations

from cspr_engine.errors import CsprError, Forbidden, NotFound


class NotAcceptable(CsprError):
    """406: the caller accepts none of the formats the resource comes in."""

    status, slug, title = 406, "not-acceptable", "None of the formats you accept is available"


class ExportForbidden(Forbidden):
    slug, title = "export-forbidden", "Your role may not export the case's record"


class NoSubmissionPack(NotFound):
    slug, title = "no-submission-pack", "This case's workflow has no rapid review submission pack"
