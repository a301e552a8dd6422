"""documents.sniff: a file's kind from its bytes alone; service.clean_filename: the name it is
served under; storage.describe_size: sizes in words."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from cspr_engine.documents import sniff
from cspr_engine.documents.service import clean_filename
from cspr_engine.documents.storage import DocumentStore, describe_size
from tests.documents import files


def detect(tmp_path: Path, content: bytes) -> sniff.Detection:
    path = tmp_path / "upload"
    path.write_bytes(content)
    return sniff.detect(path)


class TestDetect:
    @pytest.mark.parametrize(
        ("build", "kind"),
        [
            (files.pdf, sniff.PDF),
            (files.docx, sniff.DOCX),
            (files.xlsx, sniff.XLSX),
            (files.pptx, sniff.PPTX),
            (files.odt, sniff.ODT),
            (files.png, sniff.PNG),
            (files.jpeg, sniff.JPEG),
            (files.csv_text, sniff.TEXT),
        ],
    )
    def test_each_allowed_kind_is_recognised(
        self, tmp_path: Path, build: Callable[[], bytes], kind: sniff.Kind
    ) -> None:
        found = detect(tmp_path, build())
        assert found.kind == kind
        assert found.allowed

    @pytest.mark.parametrize(
        ("content", "seen"),
        [
            (files.windows_program(), "Windows program"),
            (files.linux_program(), "Linux program"),
            (b"\xcf\xfa\xed\xfe" + b"\x00" * 28, "macOS program"),
            (files.script(), "script"),
            (files.html(), "HTML"),
            (b"  \n<p>hello</p>", "HTML"),
            (b"<!-- a comment --> then text", "HTML"),
            (b"\xef\xbb\xbf<?xml version='1.0'?><note/>", "XML"),
            (files.svg(), "SVG"),
            (b"Meeting notes\n\nSee <script src=x></script>", "HTML"),
            (b"plain text with a NUL\x00 in it", "binary data"),
            (b"\xff\xfe\x00\x00", "binary data"),
            (b"caf\xe9", "UTF-8"),
            (b"ends inside a character \xe2\x82", "UTF-8"),
            (files.plain_zip(), "ZIP archive that is not"),
            (files.docm(), "macros"),
            (b"PK\x03\x04" + b"\x00" * 40, "damaged"),
            (b"", "empty"),
        ],
    )
    def test_everything_else_is_refused_and_named(
        self, tmp_path: Path, content: bytes, seen: str
    ) -> None:
        found = detect(tmp_path, content)
        assert found.kind is None
        assert not found.allowed
        assert seen in found.seen

    def test_an_odf_other_than_text_is_refused(self, tmp_path: Path) -> None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        assert detect(tmp_path, buffer.getvalue()).kind is None

    def test_a_zip_of_too_many_entries_is_refused_unread(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(sniff, "MAX_ZIP_ENTRIES", 3)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("[Content_Types].xml", "<Types/>")
            for n in range(4):
                archive.writestr(f"word/part{n}.xml", "<p/>")
        found = detect(tmp_path, buffer.getvalue())
        assert found.kind is None
        assert "more than 3 entries" in found.seen

    def test_a_large_mimetype_entry_is_not_read(self, tmp_path: Path) -> None:
        # An ODF's `mimetype` is a few dozen bytes: a big one (a bomb, say) is not opened.
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("mimetype", "application/vnd.oasis.opendocument.text" + " " * 10_000)
        assert detect(tmp_path, buffer.getvalue()).kind is None

    def test_text_with_a_byte_order_mark_and_markup_later_than_the_head_is_text(
        self, tmp_path: Path
    ) -> None:
        content = "\ufeffNotes\n".encode() + b"a" * (sniff.HEAD_BYTES + 10) + b"<script>"
        assert detect(tmp_path, content).kind == sniff.TEXT


class TestCleanFilename:
    @pytest.mark.parametrize(
        ("raw", "kind", "clean"),
        [
            ("report.pdf", sniff.PDF, "report.pdf"),
            ("C:\\Users\\me\\report.pdf", sniff.PDF, "report.pdf"),
            ("../../etc/passwd", sniff.TEXT, "passwd.txt"),
            ("evil\u202efdp.exe", sniff.PDF, "evilfdp.exe.pdf"),
            ("notes.exe", sniff.TEXT, "notes.exe.txt"),
            ("returns.CSV", sniff.TEXT, "returns.csv"),
            ("scan.jpg", sniff.JPEG, "scan.jpg"),
            ("a\tb\n\u00a0c.png", sniff.PNG, "a b c.png"),
            ('what? "really" <yes>|*.pdf', sniff.PDF, "what_ _really_ _yes___.pdf"),
            ("", sniff.PDF, "document.pdf"),
            ("...", sniff.PDF, "document.pdf"),
            (".pdf", sniff.PDF, "pdf.pdf"),
            ("Überprüfung.pdf", sniff.PDF, "Überprüfung.pdf"),
        ],
    )
    def test_names(self, raw: str, kind: sniff.Kind, clean: str) -> None:
        assert clean_filename(raw, kind) == clean

    def test_a_long_name_keeps_its_extension_within_200_characters(self) -> None:
        cleaned = clean_filename("x" * 500 + ".docx", sniff.DOCX)
        assert len(cleaned) == 200
        assert cleaned.endswith("x.docx")


@pytest.mark.parametrize(
    ("size", "words"),
    [
        (1, "1 byte"),
        (300, "300 bytes"),
        (1024, "1 KB"),
        (1536, "1.5 KB"),
        (1_572_864, "1.5 MB"),
        (20 * 1024 * 1024, "20 MB"),
        (25_000_000, "24 MB"),
    ],
)
def test_describe_size(size: int, words: str) -> None:
    assert describe_size(size) == words


def test_the_store_opens_nothing_outside_its_directory(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path)
    for key in ("../cspr.db", "/etc/passwd", "A" * 32, ""):
        with pytest.raises(ValueError, match="not a storage key"):
            store.open(key)
