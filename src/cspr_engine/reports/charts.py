"""Charts of a report as inline SVG, drawn on the server: no script, no inline style (the page's
Content-Security-Policy allows neither), colours by presentation attribute.

Each chart is an image to assistive technology (`role="img"`, named by its `<title>` and
described by its `<desc>`, which states every number drawn); the same numbers are in the
page's tables, so the colours are never the only way to read them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from cspr_engine.reports.schemas import Figures

WIDTH = 720
ROW_LABEL = 20  # the label line above each bar
BAR = 26
ROW_GAP = 14
LEGEND_ROW = 22
FONT = "arial, sans-serif"
TEXT = "#0b0c0c"
# GOV.UK colours, each at least 4.5:1 against the white number drawn on it.
SEGMENT_MIN_LABEL = 22  # px: a narrower segment is not labelled (its number is in the table)


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    colour: str


CLOCK_SERIES = (
    Series("met_on_time", "Met on time", "#00703c"),
    Series("met_late", "Met late", "#912b88"),
    Series("breached", "Breached, closed", "#d4351c"),
    Series("open_breached", "Open and overdue", "#0b0c0c"),
    Series("open_running", "Open, not yet due", "#1d70b8"),
    Series("cancelled", "Cancelled before due", "#505a5f"),
)
ACTIVITY_BARS = (
    ("referrals", "Referrals"),
    ("notifications", "Notifications to the Panel"),
    ("rapid_reviews_completed", "Rapid reviews completed"),
    ("lcspr_commissioned", "LCSPRs commissioned"),
    ("lcspr_completed", "LCSPRs completed"),
    ("lcspr_published", "LCSPRs published"),
    ("lcspr_withheld", "LCSPR publications delayed or withheld"),
)
ACTIVITY_COLOUR = "#1d70b8"


@dataclass(frozen=True)
class Row:
    label: str
    values: tuple[int, ...]  # one per series


def _text(x: float, y: float, content: str, *, fill: str = TEXT, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    return (
        f'<text x="{x:g}" y="{y:g}" font-family="{FONT}" font-size="14" fill="{fill}"{extra}>'
        f"{escape(content)}</text>"
    )


def _svg(ident: str, title: str, desc: str, height: float, body: list[str]) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{escape(ident)}" class="app-chart" '
        f'role="img" aria-labelledby="{escape(ident)}-title {escape(ident)}-desc" '
        f'viewBox="0 0 {WIDTH} {height:g}" width="100%" focusable="false">'
        f'<title id="{escape(ident)}-title">{escape(title)}</title>'
        f'<desc id="{escape(ident)}-desc">{escape(desc)}</desc>' + "".join(body) + "</svg>"
    )


def stacked_bars(
    ident: str, title: str, rows: Sequence[Row], series: Sequence[Series], empty: str
) -> Markup:
    """One horizontal bar per row, its segments the series in order, scaled to the largest
    total; a legend below."""
    largest = max((sum(r.values) for r in rows), default=0)
    body: list[str] = []
    sentences = []
    y = 0.0
    for row in rows:
        total = sum(row.values)
        parts = [f"{v} {s.label.lower()}" for s, v in zip(series, row.values, strict=True) if v]
        sentences.append(
            f"{row.label}: {total} in all" + (f", {', '.join(parts)}" if parts else "")
        )
        body.append(_text(0, y + 15, f"{row.label} ({total})"))
        y += ROW_LABEL
        x = 0.0
        for s, value in zip(series, row.values, strict=True):
            if not value:
                continue
            width = WIDTH * value / largest
            body.append(
                f'<rect x="{x:g}" y="{y:g}" width="{width:g}" height="{BAR}" fill="{s.colour}" '
                f'stroke="#ffffff" stroke-width="1" data-series="{s.key}" data-value="{value}"/>'
            )
            if width >= SEGMENT_MIN_LABEL:
                body.append(
                    _text(
                        x + width / 2,
                        y + BAR / 2 + 5,
                        str(value),
                        fill="#ffffff",
                        font_weight="bold",
                        text_anchor="middle",
                    )
                )
            x += width
        y += BAR + ROW_GAP
    if largest == 0:
        body.append(_text(0, y + 15, empty))
        y += ROW_LABEL + ROW_GAP
    # The legend: a swatch and its words, three to a line.
    column = WIDTH / 3
    for i, s in enumerate(series):
        lx, ly = column * (i % 3), y + LEGEND_ROW * (i // 3)
        body.append(f'<rect x="{lx:g}" y="{ly + 3:g}" width="14" height="14" fill="{s.colour}"/>')
        body.append(_text(lx + 20, ly + 15, s.label))
    y += LEGEND_ROW * -(-len(series) // 3)
    desc = ". ".join(sentences) + "." if sentences else empty
    return _svg(ident, title, desc, y, body)


def clock_outcomes(figures: Figures) -> Markup:
    """A bar per statutory clock: its clocks due in the period by outcome."""
    rows = [
        Row(
            label=f"{c.label} ({c.rule})",
            values=(
                c.met_on_time,
                c.met_late,
                c.breached,
                c.open_breached,
                c.open - c.open_breached,
                c.cancelled,
            ),
        )
        for c in figures.clocks.values()
    ]
    return stacked_bars(
        "chart-clocks",
        "Statutory clocks due in the period, by outcome",
        rows,
        CLOCK_SERIES,
        "No statutory clock fell due in the period.",
    )


def activity(figures: Figures) -> Markup:
    """A bar per activity count (the Panel's responses are in their own table)."""
    counts = figures.activity.model_dump()
    largest = max((int(counts[key]) for key, _ in ACTIVITY_BARS), default=0)
    label_width = 280
    span = WIDTH - label_width - 40
    body: list[str] = []
    sentences = []
    for i, (key, label) in enumerate(ACTIVITY_BARS):
        value = int(counts[key])
        y = i * (BAR + 8)
        sentences.append(f"{label}: {value}")
        body.append(_text(0, y + BAR / 2 + 5, label))
        width = span * value / largest if largest else 0
        if value:
            body.append(
                f'<rect x="{label_width}" y="{y:g}" width="{width:g}" height="{BAR}" '
                f'fill="{ACTIVITY_COLOUR}" data-series="{key}" data-value="{value}"/>'
            )
        body.append(_text(label_width + width + 6, y + BAR / 2 + 5, str(value)))
    height = len(ACTIVITY_BARS) * (BAR + 8)
    return _svg(
        "chart-activity", "Activity in the period", ". ".join(sentences) + ".", height, body
    )
