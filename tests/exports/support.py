"""Helpers of the export tests: the submission pack read back from its Markdown and from its Word
document into the same plain shape (headings, labelled facts under their heading, bullets,
paragraphs, tables), so a test can say what it holds and that both formats hold the same."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any

import docx
import httpx

from tests.factories import Api

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
NOT_YET = "Not yet recorded"
# The pack's sections, as statutory-process.md §7.2 and the issue ask for them.
SECTIONS = [
    "1. Case details and notification",
    "2. The rapid review",
    "3. The agencies' information",
    "4. The facts of the case",
    "5. Immediate actions",
    "6. Learning and the recommendation",
    "7. The DSPs' joint decision",
    "8. Clocks",
    "9. The Panel's response and what followed",
    "10. What is still to come",
]

_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
_FACT = re.compile(r"^- \*\*(.+?):\*\* ?(.*)$")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def unescape(text: str) -> str:
    return _ESCAPED.sub(r"\1", text)


@dataclass
class Read:
    """What a reader finds in the pack. `facts` are (heading, label, value), the heading being
    the nearest one above."""

    headings: list[tuple[int, str]] = field(default_factory=list)
    facts: list[tuple[str, str, str]] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    tables: list[list[list[str]]] = field(default_factory=list)

    def fact(self, heading: str, label: str) -> list[str]:
        return [v for h, lab, v in self.facts if (h, lab) == (heading, label)]

    def table(self, first_header: str) -> list[list[str]]:
        (found,) = [t for t in self.tables if t[0][0] == first_header]
        return found


def read_markdown(text: str) -> Read:
    out = Read()
    heading = ""
    in_fact = False
    paragraph: list[str] = []
    table: list[list[str]] | None = None

    def end_paragraph() -> None:
        if paragraph:
            out.paragraphs.append("\n".join(paragraph))
            paragraph.clear()

    for line in text.split("\n"):
        if in_fact and line.startswith("  "):
            h, label, value = out.facts[-1]
            out.facts[-1] = (h, label, f"{value}\n{unescape(line[2:])}")
            continue
        in_fact = False
        if not line.startswith("|"):
            table = None
        if not line.strip():
            end_paragraph()
        elif line.startswith("#"):
            marks, _, words = line.partition(" ")
            heading = unescape(words)
            out.headings.append((len(marks), heading))
        elif match := _FACT.match(line):
            out.facts.append((heading, unescape(match[1]), unescape(match[2])))
            in_fact = True
        elif line.startswith("- "):
            out.bullets.append(unescape(line[2:]))
        elif line.startswith("|"):
            cells = [unescape(c.strip()) for c in _CELL_SPLIT.split(line.strip())[1:-1]]
            if set("".join(cells)) <= {"-"}:
                continue  # the header's underline
            if table is None:
                table = []
                out.tables.append(table)
            table.append(cells)
        else:
            paragraph.append(unescape(line))
    end_paragraph()
    return out


def read_docx(content: bytes) -> Read:
    document = docx.Document(io.BytesIO(content))
    out = Read()
    heading = ""
    for p in document.paragraphs:
        style = p.style.name if p.style is not None else ""
        if style.startswith("Heading "):
            heading = p.text
            out.headings.append((int(style.removeprefix("Heading ")), heading))
        elif style == "List Bullet":
            out.bullets.append(p.text)
        elif p.runs and p.runs[0].bold and p.runs[0].text.endswith(": "):
            label = p.runs[0].text.removesuffix(": ")
            out.facts.append((heading, label, p.text.removeprefix(p.runs[0].text)))
        else:
            out.paragraphs.append(p.text)
    out.tables = [[[c.text for c in row.cells] for row in t.rows] for t in document.tables]
    return out


def pack(
    api: Api, case: dict[str, Any], who: str = "chair", partnership: str = "TW", **headers: str
) -> httpx.Response:
    return api.client.get(
        f"/api/v1/cases/{case['id']}/submission-pack",
        headers=api.headers(who, partnership, **headers),
    )


def both(
    api: Api, case: dict[str, Any], who: str = "chair", partnership: str = "TW"
) -> tuple[Read, Read]:
    """The pack in both formats (Markdown by default, Word by `Accept`), read back; each is an
    attachment named after the case."""
    md = pack(api, case, who, partnership)
    assert md.status_code == 200, md.text
    assert md.headers["content-type"] == "text/markdown; charset=utf-8"
    assert md.headers["content-disposition"] == (
        f'attachment; filename="{case["reference"]}-rapid-review-pack.md"'
    )
    word = pack(api, case, who, partnership, Accept=DOCX)
    assert word.status_code == 200, word.text
    assert word.headers["content-type"] == DOCX
    assert word.headers["content-disposition"] == (
        f'attachment; filename="{case["reference"]}-rapid-review-pack.docx"'
    )
    return read_markdown(md.text), read_docx(word.content)
