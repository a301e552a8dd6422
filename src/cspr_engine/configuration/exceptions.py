"""Problems of partnership configuration (each an RFC 9457 problem type)."""

from __future__ import annotations

from cspr_engine.errors import Forbidden, NotFound, PreconditionFailed


class PartnershipNotFound(NotFound):
    slug, title = "partnership-not-found", "No such partnership"


class NotYourPartnership(Forbidden):
    slug, title = "not-your-partnership", "Only the partnership's own users may do this"


class ConfigurationChanged(PreconditionFailed):
    slug, title = (
        "configuration-changed",
        "The configuration has changed since the version you sent in If-Match",
    )
