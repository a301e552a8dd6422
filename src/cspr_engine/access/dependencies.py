"""LoggedActorDep: the caller of a request that reaches for cases, noted for the access log."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from cspr_engine.access import service as access_service
from cspr_engine.accounts.dependencies import ActorDep
from cspr_engine.accounts.schemas import Actor
from cspr_engine.kit.clock import ClockDep


async def get_logged_actor(request: Request, actor: ActorDep, clock: ClockDep) -> Actor:
    """Authenticated first: an unauthenticated request (401) leaves no access log row.
    (async: nothing blocks here, so it runs on the event loop, not in a thread.)"""
    access_service.note_actor(request.scope, actor, clock.now())
    return actor


LoggedActorDep = Annotated[Actor, Depends(get_logged_actor)]
