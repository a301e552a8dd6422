"""Idempotency-Key handling for commands.

A replay with the same key and the same body returns the first response; the same key with
another body is a 422. Only successful responses are kept, so a failed request may be retried
with its key. The record is written in the command's own transaction: if two requests with one
key race, the loser's commit fails on the unique key and it replays the winner's response.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlmodel import Session

from cspr_engine.accounts.schemas import Actor
from cspr_engine.errors import FieldError, IdempotencyKeyReused, InvalidData
from cspr_engine.idempotency.models import IdempotencyRecord

MAX_KEY_LENGTH = 200
REPLAYED_HEADER = "Idempotent-Replayed"


def request_hash(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise InvalidData(
            [
                FieldError(
                    loc="header.Idempotency-Key",
                    message="must be 1 to 200 characters",
                    type="string",
                )
            ]
        )
    return key


def replay(
    session: Session, *, actor: Actor, scope: str, key: str | None, body_hash: str
) -> JSONResponse | None:
    """The stored response for this key, or None if the key is new."""
    if key is None:
        return None
    record = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.user_id == actor.user_id,  # type: ignore[arg-type]
            IdempotencyRecord.scope == scope,  # type: ignore[arg-type]
            IdempotencyRecord.key == key,  # type: ignore[arg-type]
        )
    )
    if record is None:
        return None
    if record.request_hash != body_hash:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was first used with a different request body."
        )
    return JSONResponse(
        record.body,
        status_code=record.status_code,
        headers={**record.headers, REPLAYED_HEADER: "true"},
    )


def remember(
    session: Session,
    *,
    actor: Actor,
    scope: str,
    key: str | None,
    body_hash: str,
    status_code: int,
    body: dict[str, Any],
    headers: dict[str, str],
    now: datetime,
) -> None:
    if key is None:
        return
    session.add(
        IdempotencyRecord(
            user_id=actor.user_id,
            scope=scope,
            key=key,
            request_hash=body_hash,
            status_code=status_code,
            body=body,
            headers=headers,
            created_at=now,
        )
    )
