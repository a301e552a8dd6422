"""The submission pack as a Word document (Office Open XML, written with python-docx): the same
blocks as the Markdown, its headings as Word's Heading 1 to 3 (the navigation pane lists the
sections), labelled facts as paragraphs with the label in bold, tables as tables. The text
comes through `content.plain`: nothing in it that XML cannot hold."""

from __future__ import annotations

from datetime import UTC
from io import BytesIO

import docx
from docx.document import Document
from docx.text.paragraph import Paragraph as WordParagraph

from cspr_engine.exports.content import Bullets, Facts, Heading, Pack, Paragraph, Table


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _add_text(paragraph: WordParagraph, text: str) -> None:
    """`text` at the end of `paragraph`, each of its lines after a line break."""
    for i, line in enumerate(text.splitlines() or [""]):
        if i:
            paragraph.add_run().add_break()
        paragraph.add_run(line)


def _facts(document: Document, block: Facts) -> None:
    for label, value in block.rows:
        paragraph = document.add_paragraph()
        paragraph.add_run(_one_line(label) + ": ").bold = True
        _add_text(paragraph, value)


def _table(document: Document, block: Table) -> None:
    table = document.add_table(rows=1, cols=len(block.header))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, block.header, strict=True):
        cell.paragraphs[0].add_run(_one_line(text)).bold = True
    for row in block.rows:
        for cell, text in zip(table.add_row().cells, row, strict=True):
            cell.text = _one_line(text)


def render(pack: Pack) -> bytes:
    """The pack as the bytes of a .docx file."""
    document = docx.Document()
    properties = document.core_properties
    properties.title = _one_line(pack.title)
    properties.subject = "Rapid review submission"
    properties.author = "cspr_engine"
    properties.last_modified_by = "cspr_engine"
    properties.comments = ""
    properties.keywords = ""
    properties.revision = 1
    properties.created = properties.modified = pack.prepared_at.astimezone(UTC)
    for block in pack.blocks:
        match block:
            case Heading(level=level, text=text):
                document.add_heading(_one_line(text), level)
            case Paragraph(text=text):
                _add_text(document.add_paragraph(), text)
            case Facts():
                _facts(document, block)
            case Bullets(items=items):
                for item in items:
                    document.add_paragraph(_one_line(item), style="List Bullet")
            case Table():
                _table(document, block)
    out = BytesIO()
    document.save(out)
    return out.getvalue()
