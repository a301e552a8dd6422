"""Errors about approval gates."""

from __future__ import annotations

from cspr_engine.errors import Conflict, Forbidden, NotFound


class GateNotFound(NotFound):
    slug, title = "gate-not-found", "The workflow has no such approval gate"


class GateClosed(Conflict):
    slug, title = "gate-closed", "The gate is not open in the case's current state"


class NotAGateParty(Forbidden):
    slug, title = "not-a-gate-party", "You are not one of the gate's parties"
