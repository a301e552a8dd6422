"""The submission pack as Markdown (CommonMark, with GitHub's pipe tables).

Recorded text is escaped: a rationale that starts a line with `#` or `-` stays text, and cannot
make a heading or a list of its own, nor raw HTML."""

from __future__ import annotations

import re

from cspr_engine.exports.content import Bullets, Facts, Heading, Pack, Paragraph, Table

# Punctuation that means something inline (emphasis, code, links, HTML, tables, entities).
_INLINE = re.compile(r"([\\`*_\[\]<>|#~&])")
# What would open a block at the start of a line: a list item, a setext underline or a
# thematic break (`-`, `+`, `=`), an ordered list item (`1.`, `1)`).
_LINE_START = re.compile(r"^([-+=])")
_ORDERED = re.compile(r"^(\d{1,9})([.)])")


def inline(text: str) -> str:
    """Text within a line (after a heading's or a list item's marker, in a table cell), as
    literal Markdown."""
    return _INLINE.sub(r"\\\1", text.strip())


def escape(line: str) -> str:
    """A line of recorded text that begins a line of the document, as literal Markdown."""
    line = _LINE_START.sub(r"\\\1", inline(line))
    return _ORDERED.sub(r"\1\\\2", line)


def _lines(text: str) -> list[str]:
    return [escape(line) for line in text.splitlines()] or [""]


def _cell(text: str) -> str:
    """Text that must stay on one line."""
    return inline(" ".join(text.split()))


def _facts(block: Facts) -> str:
    items = []
    for label, value in block.rows:
        first, *more = value.splitlines() or [""]
        # Further lines stay in the list item: indented to its content, blank ones kept.
        rest = "".join(f"\n  {line}" if (line := escape(raw)) else "\n" for raw in more)
        items.append(f"- **{inline(label)}:** {inline(first)}{rest}")
    return "\n".join(items)


def _table(block: Table) -> str:
    rows = [
        "| " + " | ".join(_cell(h) for h in block.header) + " |",
        "|" + "|".join(" --- " for _ in block.header) + "|",
    ]
    rows += ["| " + " | ".join(_cell(c) or " " for c in row) + " |" for row in block.rows]
    return "\n".join(rows)


def render(pack: Pack) -> str:
    """The pack as one Markdown document."""
    parts: list[str] = []
    for block in pack.blocks:
        match block:
            case Heading(level=level, text=text):
                parts.append(f"{'#' * level} {_cell(text)}")
            case Paragraph(text=text):
                parts.append("\n".join(_lines(text)))
            case Facts():
                parts.append(_facts(block))
            case Bullets(items=items):
                parts.append("\n".join(f"- {escape(' '.join(item.split()))}" for item in items))
            case Table():
                parts.append(_table(block))
    return "\n\n".join(parts) + "\n"
