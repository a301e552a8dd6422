"""Errors about improvement actions (see the tree in cspr_engine.errors)."""

from __future__ import annotations

from cspr_engine.errors import Conflict, Forbidden, NotFound, PreconditionFailed


class ActionNotFound(NotFound):
    slug, title = "action-not-found", "No such improvement action on this case"


class ActionForbidden(Forbidden):
    slug, title = "action-forbidden", "Your role may not make this change to the action"


class StaleActionVersion(PreconditionFailed):
    slug, title = (
        "stale-action-version",
        ("The action has changed since the version you sent in If-Match"),
    )


class ActionStatusConflict(Conflict):
    slug, title = "action-status-conflict", "The action cannot move to that status from its own"


class CaseClosedToActions(Conflict):
    slug, title = "case-closed", "The case is closed: its actions change no more"


__all__ = [
    "ActionForbidden",
    "ActionNotFound",
    "ActionStatusConflict",
    "CaseClosedToActions",
    "StaleActionVersion",
]
