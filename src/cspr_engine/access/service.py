"""The access log: one row per request that reads, changes or tries to reach a case, allowed
or denied (`audit.models.AccessEvent`).

While a request runs, the dependencies that authenticate the caller and load the case
(`access.dependencies`, `cases.dependencies`) note who called, when, which case, and whether it
was refused; `AccessLogMiddleware` turns the note into a row once the request is over. A change that
commits writes its row in its own transaction instead (`add_to` before the commit, `committed`
after it): one commit, not two, and the row exists exactly when the change does. Nothing here
commits.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session
from starlette.types import Scope

from cspr_engine.accounts.schemas import Actor
from cspr_engine.audit.models import AccessEvent

STATE_KEY = "access_note"

# Route name -> the action an access event names.
ACTIONS: Mapping[str, str] = {
    "create_case": "case.create",
    "list_cases": "case.list",
    "read_case": "case.read",
    "list_transitions": "case.transitions",
    "fire_transition": "case.transition",
    "cast_vote": "case.vote",
    "list_events": "case.events",
    "list_deadlines": "case.deadlines",
    "extend_deadline": "case.extension",
    "list_access": "case.access",
    # The web UI's pages that read or change cases.
    "ui_dashboard": "case.list",
    "ui_create_case": "case.create",
    "ui_case": "case.read",
    "ui_fire": "case.transition",
    "ui_vote": "case.vote",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class AccessNote:
    """What a request's dependencies learnt about its caller and its case."""

    actor: Actor
    at: datetime
    case_id: uuid.UUID | None = None
    denied: bool = False
    # The row went in with the request's own committed transaction (see add_to).
    recorded: bool = False


def note_actor(scope: Scope, actor: Actor, at: datetime) -> None:
    """The request reaches for cases on behalf of `actor`: it will be logged."""
    state: dict[str, Any] = scope.setdefault("state", {})
    if STATE_KEY not in state:
        state[STATE_KEY] = AccessNote(actor=actor, at=at)


def note_case(scope: Scope, case_id: uuid.UUID | None, *, denied: bool = False) -> None:
    """The case the request named (None: it named none that exists), and whether the caller
    was refused sight of it."""
    found = current_note(scope)
    if found is not None:
        found.case_id = case_id
        found.denied = denied


def current_note(scope: Scope) -> AccessNote | None:
    """The request's note, None if it reached for no case or its row is already written."""
    found = scope.get("state", {}).get(STATE_KEY)
    return found if isinstance(found, AccessNote) and not found.recorded else None


def add_to(session: Session, scope: Scope, status: int) -> None:
    """Add the request's access row, answered `status`, to the change about to commit in
    `session`. Call `committed(scope)` once the commit succeeds; if it fails, the row is rolled
    back with the change and the middleware writes it with the status the request ends with."""
    note = current_note(scope)
    if note is not None:
        request_id = scope.get("state", {}).get("request_id")
        session.add(entry(note, scope=scope, status=status, request_id=request_id))


def committed(scope: Scope) -> None:
    """The transaction holding the request's access row has committed."""
    found = scope.get("state", {}).get(STATE_KEY)
    if isinstance(found, AccessNote):
        found.recorded = True


def action_for(scope: Scope) -> str:
    route = scope.get("route")
    name = getattr(route, "name", None)
    if not isinstance(name, str):
        return "case.unknown"
    return ACTIONS.get(name, f"case.{name}")[:64]


def entry(note: AccessNote, *, scope: Scope, status: int, request_id: str | None) -> AccessEvent:
    """The access event for a finished request. Refused: the case was not visible (404) or the
    role may not take the action (403)."""
    return AccessEvent(
        at=note.at,
        actor_id=note.actor.user_id,
        token_id=note.actor.token_id,
        session_id=note.actor.session_id,
        method=str(scope["method"])[:10],
        # The path only: a query string may carry a partner's reference to a child.
        path=_CONTROL.sub("?", str(scope["path"]))[:300],
        action=action_for(scope),
        case_id=note.case_id,
        outcome="denied" if note.denied or status == 403 else "allowed",
        status=status,
        request_id=request_id,
    )
