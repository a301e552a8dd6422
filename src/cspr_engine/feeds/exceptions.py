"""What calendar feeds refuse with (subclasses of the cspr_engine.errors tree).

NotFound (404) .......... CalendarFeedNotFound, FeedUnavailable
TooManyRequests (429) ... FeedRateLimited
"""

from __future__ import annotations

from cspr_engine.errors import NotFound, TooManyRequests


class CalendarFeedNotFound(NotFound):
    slug, title = "calendar-feed-not-found", "No such calendar feed"


class FeedUnavailable(NotFound):
    # One answer for an unknown secret, a revoked feed and a disabled user: the URL's holder
    # cannot learn which it was, nor that the secret was ever valid.
    slug, title = "feed-unavailable", "No such calendar feed"

    def __init__(self) -> None:
        super().__init__("There is no calendar feed at this address.")


class FeedRateLimited(TooManyRequests):
    slug, title = "feed-rate-limited", "Too many calendar feeds created for this user"
