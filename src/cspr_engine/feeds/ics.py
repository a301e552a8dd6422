"""iCalendar text (RFC 5545), written here rather than by a library: a feed is one calendar of
all-day events, and these few rules are all it needs.

- Content lines end in CRLF and are folded at 75 octets (continuation lines start with a
  space), never inside a UTF-8 character (3.1).
- TEXT values escape backslash, semicolon, comma and newlines (3.3.11); other control
  characters are not allowed in TEXT and are dropped.
- An all-day event is a DTSTART;VALUE=DATE and a DTEND the day after (3.6.1: DTEND is
  exclusive), so a clock due on a day fills exactly that day in any time zone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

CRLF = "\r\n"
MAX_LINE_OCTETS = 75
PRODID = "-//cspr_engine//Calendar feed//EN"
# Control characters other than HTAB (and the newlines, escaped before this applies).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class AllDayEvent:
    uid: str
    day: date
    summary: str
    description: str
    url: str | None = None
    last_modified: datetime | None = None


def escape_text(value: str) -> str:
    """A TEXT property value, escaped (RFC 5545 3.3.11)."""
    escaped = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    escaped = escaped.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return _CONTROL.sub("", escaped)


def fold(line: str) -> str:
    """One content line, folded so that no physical line is longer than 75 octets."""
    if len(line.encode()) <= MAX_LINE_OCTETS:
        return line
    parts: list[str] = []
    current: list[str] = []
    size = 0
    limit = MAX_LINE_OCTETS
    for char in line:
        octets = len(char.encode())
        if size + octets > limit:
            parts.append("".join(current))
            current, size = [], 0
            limit = MAX_LINE_OCTETS - 1  # the continuation's leading space is one octet
        current.append(char)
        size += octets
    parts.append("".join(current))
    return (CRLF + " ").join(parts)


def utc_stamp(instant: datetime) -> str:
    """A DATE-TIME in UTC form (RFC 5545 3.3.5, form #2)."""
    return instant.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def date_value(day: date) -> str:
    return day.strftime("%Y%m%d")


def duration(span: timedelta) -> str:
    """A DURATION of whole minutes (RFC 5545 3.3.6), e.g. PT1H or PT90M."""
    minutes = int(span.total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{rest}M" if rest or not hours else "")


def _event_lines(event: AllDayEvent, stamp: str) -> list[str]:
    lines = [
        "BEGIN:VEVENT",
        f"UID:{escape_text(event.uid)}",
        f"DTSTAMP:{stamp}",
        f"DTSTART;VALUE=DATE:{date_value(event.day)}",
        f"DTEND;VALUE=DATE:{date_value(event.day + timedelta(days=1))}",
        f"SUMMARY:{escape_text(event.summary)}",
        f"DESCRIPTION:{escape_text(event.description)}",
    ]
    if event.url:
        lines.append(f"URL:{_CONTROL.sub('', event.url)}")
    if event.last_modified is not None:
        lines.append(f"LAST-MODIFIED:{utc_stamp(event.last_modified)}")
    # A deadline is a marker on the day, not a meeting: it does not make anyone busy.
    lines += ["TRANSP:TRANSPARENT", "END:VEVENT"]
    return lines


def calendar(
    *,
    name: str,
    description: str,
    events: Iterable[AllDayEvent],
    now: datetime,
    refresh: timedelta,
) -> str:
    """A whole VCALENDAR: its name and refresh hints (RFC 7986 REFRESH-INTERVAL, and the
    X-WR-/X-PUBLISHED-TTL properties Outlook and others read), then one VEVENT each."""
    stamp = utc_stamp(now)
    every = duration(refresh)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"NAME:{escape_text(name)}",
        f"X-WR-CALNAME:{escape_text(name)}",
        f"DESCRIPTION:{escape_text(description)}",
        f"X-WR-CALDESC:{escape_text(description)}",
        f"REFRESH-INTERVAL;VALUE=DURATION:{every}",
        f"X-PUBLISHED-TTL:{every}",
    ]
    for event in events:
        lines += _event_lines(event, stamp)
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + CRLF for line in lines)
