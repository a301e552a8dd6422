"""Errors about linked cases and shares (see the tree in cspr_engine.errors)."""

from __future__ import annotations

from cspr_engine.errors import Conflict, Forbidden, NotFound


class LinkForbidden(Forbidden):
    slug, title = "link-forbidden", "Your role may not link cases"


class LinkNotFound(NotFound):
    slug, title = "link-not-found", "The case has no such link"


class LinkTargetNotFound(NotFound):
    slug, title = "link-target-not-found", "No such case to link to"


class DuplicateLink(Conflict):
    slug, title = "duplicate-link", "The cases are already linked that way"


class LinkAlreadyRemoved(Conflict):
    slug, title = "link-already-removed", "The link was already removed"


class ShareForbidden(Forbidden):
    slug, title = "share-forbidden", "Your role may not share a case"


class ShareNotFound(NotFound):
    slug, title = "share-not-found", "The case has no such share"


class DuplicateShare(Conflict):
    slug, title = "duplicate-share", "The case is already shared with that partnership"


class ShareAlreadyRevoked(Conflict):
    slug, title = "share-already-revoked", "The share was already revoked"
