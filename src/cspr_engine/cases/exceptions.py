"""Errors about cases (see the tree in cspr_engine.errors)."""

from __future__ import annotations

from cspr_engine.errors import ConcurrentUpdate, Forbidden, NotFound, PreconditionFailed


class CaseNotFound(NotFound):
    slug, title = "case-not-found", "No such case"


class StaleVersion(PreconditionFailed):
    slug, title = "stale-version", "The case has changed since the version you sent in If-Match"


class CreateForbidden(Forbidden):
    slug, title = "create-forbidden", "Your role may not open a case"


class SharedCaseReadOnly(Forbidden):
    slug, title = "shared-case-read-only", "A case shared with your partnership is read-only"


__all__ = [
    "CaseNotFound",
    "ConcurrentUpdate",
    "CreateForbidden",
    "SharedCaseReadOnly",
    "StaleVersion",
]
