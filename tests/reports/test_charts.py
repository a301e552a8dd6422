"""The charts as SVG: well-formed XML (no duplicate attribute, text escaped), an image named
by its title and described by its numbers, segments sized by their counts."""

from __future__ import annotations

from xml.etree import ElementTree

from cspr_engine.reports.charts import CLOCK_SERIES, Row, Series, activity, stacked_bars
from cspr_engine.reports.schemas import ActionFigures, ActivityCounts, Figures

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ElementTree.Element:
    # ElementTree refuses a repeated attribute and unescaped text: the markup is sound.
    return ElementTree.fromstring(svg)


def child(svg: ElementTree.Element, tag: str) -> str:
    found = svg.find(f"{SVG}{tag}")
    assert found is not None, tag
    return found.text or ""


def test_a_stacked_bar_chart_draws_and_describes_each_count() -> None:
    series = (Series("a", "Met", "#00703c"), Series("b", "Late <1 day>", "#912b88"))
    svg = parse(
        str(stacked_bars("chart-x", "Clocks & <outcomes>", [Row("R&D", (3, 1))], series, "None."))
    )
    assert svg.attrib["role"] == "img"
    assert svg.attrib["aria-labelledby"] == "chart-x-title chart-x-desc"
    assert child(svg, "title") == "Clocks & <outcomes>"
    assert child(svg, "desc") == "R&D: 4 in all, 3 met, 1 late <1 day>."
    bars = [r.attrib for r in svg.iter(f"{SVG}rect") if "data-series" in r.attrib]
    assert [(b["data-series"], b["width"], b["x"]) for b in bars] == [
        ("a", "540", "0"),
        ("b", "180", "540"),
    ]
    # Each segment wide enough carries its number, in white on the colour.
    numbers = [t for t in svg.iter(f"{SVG}text") if t.attrib["fill"] == "#ffffff"]
    assert [t.text for t in numbers] == ["3", "1"]


def test_an_empty_chart_says_so() -> None:
    rows = [Row("Notify the Panel (D1, D2)", (0,) * len(CLOCK_SERIES))]
    svg = parse(str(stacked_bars("c", "Clocks", rows, CLOCK_SERIES, "Nothing was due.")))
    assert not [r for r in svg.iter(f"{SVG}rect") if "data-series" in r.attrib]
    assert "Nothing was due." in [t.text for t in svg.iter(f"{SVG}text")]
    assert child(svg, "desc") == "Notify the Panel (D1, D2): 0 in all."


def test_the_activity_chart_scales_to_the_largest_count() -> None:
    counts = ActivityCounts(
        referrals=4,
        notifications=2,
        rapid_reviews_completed=0,
        panel_outcomes={},
        lcspr_commissioned=0,
        lcspr_completed=0,
        lcspr_published=0,
        lcspr_withheld=0,
    )
    figures = Figures(
        activity=counts, clocks={}, actions=ActionFigures(open=0, overdue=0, completed=0)
    )
    svg = parse(str(activity(figures)))
    bars = {r.attrib["data-series"]: r.attrib["width"] for r in svg.iter(f"{SVG}rect")}
    assert bars == {"referrals": "400", "notifications": "200"}  # 720 - 280 - 40 = 400 wide
    assert child(svg, "desc").startswith("Referrals: 4. Notifications to the Panel: 2.")
