"""Errors about access (see the tree in cspr_engine.errors)."""

from __future__ import annotations

from cspr_engine.errors import Forbidden


class AccessLogForbidden(Forbidden):
    slug, title = "access-log-forbidden", "Your role may not read the access log"
