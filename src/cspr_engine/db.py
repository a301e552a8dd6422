"""Engine, metadata naming convention and the per-request session.

SQLite (the embedded default) runs in WAL mode with synchronous=FULL and foreign keys on; its
transactions are begun explicitly so that SAVEPOINTs and rollbacks behave as on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from cspr_engine.config import get_settings


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Hand transaction control to SQLAlchemy (pysqlite's own BEGIN handling breaks SAVEPOINT).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # Writers ask for IMMEDIATE: they take SQLite's single write lock up front and queue for
    # it (busy_timeout), instead of reading under a snapshot that a concurrent writer then
    # invalidates, which SQLite can only answer with "database is locked".
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def build_engine(url: str) -> Engine:
    """An engine that never writes statement parameters (case content) into a log line or
    an exception's message."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 5},
            hide_parameters=True,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        hide_parameters=True,
        # JIT compilation pays off for long analytical queries; for this service's short ones
        # it only adds latency (200 ms on a case list at 1M cases, whose cost estimate
        # crossed jit_above_cost).
        connect_args={"options": "-c jit=off"},
    )


@lru_cache
def get_engine() -> Engine:
    return build_engine(get_settings().database_url)


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def writer_bind(engine: Engine) -> Engine:
    """The engine a unit of work that will write should use (see _sqlite_begin)."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(sqlite_begin="IMMEDIATE")
    return engine


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request; routers commit as their last step, anything else rolls back.

    async: making a Session touches no database (it connects on first use), so FastAPI does not
    send this to a thread; only a rollback of a transaction left open (a request that failed)
    does database work, and that runs in a worker thread."""
    engine = get_engine()
    bind = writer_bind(engine) if request.method in WRITE_METHODS else engine
    session = Session(bind, expire_on_commit=False)
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(_rollback_and_close, session)
        else:
            session.close()


def _rollback_and_close(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def is_write_conflict(exc: BaseException) -> bool:
    """A lost race between writers (retryable), as opposed to a broken database."""
    text = str(getattr(exc, "orig", exc)).lower()
    return any(
        marker in text
        for marker in ("database is locked", "could not serialize", "deadlock detected")
    )
