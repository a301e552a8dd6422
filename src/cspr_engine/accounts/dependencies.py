"""ActorDep: the authenticated caller of a request."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from cspr_engine.accounts import service as accounts_service
from cspr_engine.accounts.schemas import Actor
from cspr_engine.db import get_engine
from cspr_engine.errors import Unauthenticated
from cspr_engine.kit.clock import ClockDep

log = logging.getLogger(__name__)


def get_actor(request: Request, clock: ClockDep) -> Actor:
    """Authentication is its own short unit of work, finished before the request's session
    begins, so recording a token's last use never contends with the request's own writes."""
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated("Send an API token as `Authorization: Bearer <token>`.")
    if len(secret) > 200:
        raise Unauthenticated("The token is unknown, revoked or expired.")
    with Session(get_engine()) as session:
        actor = accounts_service.authenticate(
            session=session, secret=secret.strip(), now=clock.now()
        )
        try:
            session.commit()  # the token's last-used time, at most every few minutes
        except OperationalError:
            # A busy database must not fail the request over a bookkeeping field.
            session.rollback()
            log.info("token %s: last-used time not recorded (database busy)", actor.token_id)
    return actor


ActorDep = Annotated[Actor, Depends(get_actor)]
