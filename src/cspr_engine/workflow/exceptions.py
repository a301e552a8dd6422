"""Errors of the workflow engine (see the tree in cspr_engine.errors)."""

from __future__ import annotations

from cspr_engine.errors import Conflict, Forbidden, NotFound, Unprocessable


class WorkflowNotFound(NotFound):
    slug, title = "workflow-not-found", "No such workflow"


class UnknownTrigger(Unprocessable):
    slug, title = "unknown-trigger", "The workflow has no such trigger"


class InvalidTransition(Conflict):
    slug, title = "invalid-transition", "The trigger is not allowed from the current state"


class GuardRejected(Conflict):
    slug, title = "guard-rejected", "A condition of the trigger is not met"


class TriggerForbidden(Forbidden):
    slug, title = "trigger-forbidden", "Your role may not fire this trigger"
