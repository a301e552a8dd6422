"""The iCalendar writer on its own: RFC 5545's line endings, folding and escaping, checked
against the `icalendar` package's reading of the same text."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from icalendar import Calendar

from cspr_engine.feeds import ics

NOW = datetime(2026, 6, 17, 9, 0, tzinfo=UTC)


def one_event(**overrides: object) -> str:
    fields: dict[str, object] = {
        "uid": "0f5c@cspr-engine",
        "day": date(2026, 6, 1),
        "summary": "TW-2026-0001: Notify the Panel due",
        "description": "Rule: D1, D2.",
    }
    fields.update(overrides)
    event = ics.AllDayEvent(**fields)  # type: ignore[arg-type]
    return ics.calendar(
        name="CSPR clocks (TW)",
        description="Clocks",
        events=[event],
        now=NOW,
        refresh=timedelta(hours=1),
    )


def physical_lines(text: str) -> list[bytes]:
    raw = text.encode()
    assert raw.endswith(b"\r\n")
    lines = raw[:-2].split(b"\r\n")
    assert all(b"\n" not in line and b"\r" not in line for line in lines), "a bare LF or CR"
    return lines


class TestEscaping:
    def test_backslash_semicolon_comma_and_newlines_are_escaped(self) -> None:
        assert ics.escape_text("a\\b;c,d\ne\r\nf") == "a\\\\b\\;c\\,d\\ne\\nf"

    def test_other_control_characters_are_dropped_and_tab_kept(self) -> None:
        assert ics.escape_text("a\x00b\x07c\td") == "abc\td"

    def test_escaped_text_reads_back_as_written(self) -> None:
        text = 'Rule: D1, D2; basis: s.16C(1)\\"x"\nsecond line'
        cal = Calendar.from_ical(one_event(description=text))
        (event,) = cal.walk("VEVENT")
        assert str(event["DESCRIPTION"]) == text


class TestFolding:
    def test_short_lines_are_left_alone(self) -> None:
        assert ics.fold("SUMMARY:short") == "SUMMARY:short"

    def test_no_physical_line_is_longer_than_75_octets(self) -> None:
        # 3-octet characters (en dashes) so that a naive cut would split one.
        summary = "TW-2026-0001: " + "\u2013" * 60 + " Ä" * 40
        text = one_event(summary=summary)
        lines = physical_lines(text)
        assert max(len(line) for line in lines) <= 75
        folded = [line for line in lines if line.startswith(b" ")]
        assert len(folded) >= 3  # the summary (and the description) did fold
        for line in lines:
            line.decode()  # each physical line is whole UTF-8: no character was cut
        (event,) = Calendar.from_ical(text).walk("VEVENT")
        assert str(event["SUMMARY"]) == summary

    def test_a_line_of_exactly_75_octets_is_not_folded(self) -> None:
        line = "X" * 75
        assert ics.fold(line) == line
        assert ics.fold(line + "Y") == "X" * 75 + "\r\n Y"


class TestCalendar:
    def test_crlf_everywhere_and_the_required_properties(self) -> None:
        text = one_event()
        lines = physical_lines(text)
        assert lines[0] == b"BEGIN:VCALENDAR"
        assert lines[-1] == b"END:VCALENDAR"
        cal = Calendar.from_ical(text)
        assert str(cal["VERSION"]) == "2.0"
        assert str(cal["PRODID"]) == ics.PRODID
        assert str(cal["X-WR-CALNAME"]) == "CSPR clocks (TW)"
        assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H" in lines
        assert b"X-PUBLISHED-TTL:PT1H" in lines

    def test_an_all_day_event_fills_its_day_only(self) -> None:
        (event,) = Calendar.from_ical(one_event(day=date(2026, 12, 31))).walk("VEVENT")
        start, end = event["DTSTART"].dt, event["DTEND"].dt
        assert not isinstance(start, datetime)
        assert (start, end) == (date(2026, 12, 31), date(2027, 1, 1))
        assert event["DTSTAMP"].dt == NOW
        assert str(event["UID"]) == "0f5c@cspr-engine"

    def test_durations(self) -> None:
        assert ics.duration(timedelta(hours=1)) == "PT1H"
        assert ics.duration(timedelta(minutes=90)) == "PT1H30M"
        assert ics.duration(timedelta(minutes=15)) == "PT15M"
