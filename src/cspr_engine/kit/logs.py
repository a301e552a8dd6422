"""Log filters that keep case content out of logs written by libraries, not by this service.

This service's own log calls name ids, classes and counts, never content. Libraries log more:

- uvicorn's access log and httpx write whole URLs, and a query string may carry a partner's
  reference to a child (`GET /api/v1/cases?q=...`) or, in a webhook URL, a secret: the query
  string is replaced by `?...`.
- SQLAlchemy at DEBUG writes every result row (a case's summary, a vote's rationale); the
  engine already hides statement parameters (`hide_parameters`, db.build_engine). Rows are
  dropped.
"""

from __future__ import annotations

import logging
from typing import Any

QUERY_MARK = "?..."


def _without_query(value: Any) -> Any:
    text = value if isinstance(value, str) else None
    if text is None and type(value).__name__ == "URL" and hasattr(value, "query"):
        text = str(value)  # an httpx.URL
    if text is None or "?" not in text:
        return value
    return text.split("?", 1)[0] + QUERY_MARK


class DropQueryStrings(logging.Filter):
    """Cuts the query string out of every URL-like argument of a record."""

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
    "sqlalchemy.engine.Engine": DropResultRows,
}


def install_log_filters() -> None:
    """Attach the filters above to their loggers (once; calling again changes nothing)."""
    for name, kind in _FILTERS.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())
