"""Log filters that keep case content out of logs written by libraries, not by this service.

This service's own log calls name ids, classes and counts, never content. Libraries log more:

- uvicorn's access log and httpx write whole URLs, and a query string may carry a partner's
  reference to a child (`GET /api/v1/cases?q=...`) or, in a webhook URL, a secret: the query
  string is replaced by `?...`.
- A calendar feed's URL carries its secret in the path (`/feeds/<secret>.ics`, see
  cspr_engine.feeds): uvicorn's access log and this service's error lines (which name the
  path) write it as `/feeds/…`.
- SQLAlchemy at DEBUG writes every result row (a case's summary, a vote's rationale); the
  engine already hides statement parameters (`hide_parameters`, db.build_engine). Rows are
  dropped.

Below them, the formats every line is written in (`CSPR_LOG_FORMAT`): one JSON object a line,
or text for a terminal. Both carry the request id and the authenticated user's id, and give an
exception as its type and frames only (see `exception_summary`).
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
import traceback
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import OperationalError
from starlette.types import ASGIApp, Receive, Scope, Send

from cspr_engine.config import Environment, Settings
from cspr_engine.kit.requestid import current_request_id

QUERY_MARK = "?..."
FEED_SECRET = re.compile(r"/feeds/[^/?#\s\"]+")
FEED_MARK = "/feeds/…"


def _without_query(value: Any) -> Any:
    text = value if isinstance(value, str) else None
    if text is None and type(value).__name__ == "URL" and hasattr(value, "query"):
        text = str(value)  # an httpx.URL
    if text is None:
        return value
    cut = text.split("?", 1)[0] + QUERY_MARK if "?" in text else text
    cut = FEED_SECRET.sub(FEED_MARK, cut)
    return value if cut == text else cut


class DropQueryStrings(logging.Filter):
    """Cuts the query string, and a calendar feed's secret, out of every URL-like argument of
    a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_without_query(a) for a in record.args)
        return True


class DropResultRows(logging.Filter):
    """Drops SQLAlchemy's DEBUG lines that print result rows."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith("Row "))


_FILTERS: dict[str, type[logging.Filter]] = {
    "uvicorn.access": DropQueryStrings,
    "httpx": DropQueryStrings,
    # The lines that name a failed request's path (errors.py, main.py): a feed's is a secret.
    "cspr_engine.errors": DropQueryStrings,
    "cspr_engine.main": DropQueryStrings,
    "sqlalchemy.engine.Engine": DropResultRows,
}


def install_log_filters() -> None:
    """Attach the filters above to their loggers (once; calling again changes nothing)."""
    for name, kind in _FILTERS.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())


# -- who and which request a line is about --------------------------------------------------
#
# The request id comes from kit.requestid. The actor is known only once a dependency has
# authenticated the request, and FastAPI runs (sync) dependencies in a worker thread with a
# copy of the request's context: a value set there would not be seen by the lines written
# later. So each request gets one mutable slot, set here before anything else runs, and the
# authentication dependencies write the actor's id into it (`note_actor_id`).


@dataclass
class LogContext:
    actor_id: str | None = None
    # The request id once the request id middleware (inside this one) has finished with it:
    # the last-resort 500 handler and uvicorn's own error line run after it.
    request_id: str | None = None


_context: ContextVar[LogContext | None] = ContextVar("log_context", default=None)


def note_actor_id(user_id: uuid.UUID | str) -> None:
    """The authenticated user behind the current request (an id, never a name)."""
    slot = _context.get()
    if slot is not None:
        slot.actor_id = str(user_id)


def current_actor_id() -> str | None:
    slot = _context.get()
    return slot.actor_id if slot is not None else None


def _current_request_id() -> str | None:
    slot = _context.get()
    return current_request_id() or (slot.request_id if slot is not None else None)


class LogContextMiddleware:
    """Opens the slot of each HTTP request (outside the request id middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        slot = LogContext()
        token = _context.set(slot)
        try:
            await self.app(scope, receive, send)
        except BaseException:
            # Left in place: the last-resort handler and the server log the failure after
            # this returns, in this request's own task (so no other request sees it).
            slot.request_id = scope.get("state", {}).get("request_id")
            raise
        _context.reset(token)


# -- formats --------------------------------------------------------------------------------
#
# An exception is logged as its type and where it happened (file, line, function), never its
# message nor the source text around it: a message may quote the data that caused it (a
# validation error quotes the input, a constraint violation the key, a KeyError the key).
# One kind is told in full, its first line: the database's operational errors ("database is
# locked", "could not serialize access", "connection refused"), which name the database's
# state, never a value (the engine hides statement parameters, db.build_engine).

MAX_FRAMES = 30
MAX_MESSAGE = 300
_PACKAGE_ROOTS = ("/site-packages/", "/src/")


def _where(filename: str) -> str:
    for root in _PACKAGE_ROOTS:
        if root in filename:
            return filename.rsplit(root, 1)[1]
    return filename


def _told(exc: BaseException | None) -> str | None:
    """The first line of an exception whose message is safe to log (see above), else None."""
    if not isinstance(exc, OperationalError):
        return None
    return str(exc).split("\n", 1)[0][:MAX_MESSAGE]


@dataclass(frozen=True)
class ExceptionSummary:
    type: str  # qualified: `sqlalchemy.exc.IntegrityError`; builtins by name: `ValueError`
    frames: list[str]  # `cspr_engine/cases/service.py:120 in fire`, innermost last
    message: str | None  # only for the kinds above


def exception_summary(exc_info: Any) -> ExceptionSummary | None:
    """What a log line tells of a record's exception."""
    if not exc_info or not isinstance(exc_info, tuple) or exc_info[0] is None:
        return None
    kind, value, tb = exc_info
    module = "" if kind.__module__ == "builtins" else f"{kind.__module__}."
    frames = [
        f"{_where(frame.filename)}:{frame.lineno} in {frame.name}"
        for frame in traceback.extract_tb(tb, limit=-MAX_FRAMES)
    ]
    return ExceptionSummary(module + kind.__qualname__, frames, _told(value))


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # arguments that do not fit the template: the template alone
        return str(record.msg)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id, actor_id, pid, and
    for an exception `exc_type` and `exc_frames` (and `exc_message` for a database error)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
            "request_id": _current_request_id(),
            "actor_id": current_actor_id(),
            "pid": record.process,
        }
        summary = exception_summary(record.exc_info)
        if summary is not None:
            line["exc_type"], line["exc_frames"] = summary.type, summary.frames
            if summary.message is not None:
                line["exc_message"] = summary.message
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message [request R actor A]`, then an exception in the shape of a
    Python traceback: its frames, then its type (and a database error's message)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        # Formatted by hand: the base class would append the traceback with its message.
        record.message = _message(record)
        record.asctime = self.formatTime(record)
        line = self.formatMessage(record)
        ids = [
            f"{what} {value}"
            for what, value in (("request", _current_request_id()), ("actor", current_actor_id()))
            if value
        ]
        if ids:
            line += f" [{' '.join(ids)}]"
        summary = exception_summary(record.exc_info)
        if summary is not None:
            told = summary.message if summary.message is not None else "(message withheld)"
            line += "\nTraceback (most recent call last):"
            line += "".join(f"\n  at {frame}" for frame in summary.frames)
            line += f"\n{summary.type}: {told}"
        return line


def log_format(settings: Settings) -> str:
    """`json` or `text`: as set, else JSON in production (for a log shipper) and text
    elsewhere (for a person at a terminal)."""
    if settings.log_format:
        return settings.log_format
    return "json" if settings.environment is Environment.production else "text"


def log_config(settings: Settings) -> dict[str, Any]:
    """A `logging.config.dictConfig` set-up: one handler on stderr in the chosen format, and
    uvicorn's loggers sent to it (uvicorn is given this as its `log_config`)."""
    level = settings.log_level.upper()
    formatter = JsonFormatter if log_format(settings) == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"cspr": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "cspr",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            name: {"handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
        },
        "root": {"level": level, "handlers": ["stderr"]},
    }


def configure_logging(settings: Settings) -> None:
    """Set up the process's logging (`cspr-engine serve` and `worker`), filters included."""
    logging.config.dictConfig(log_config(settings))
    install_log_filters()
