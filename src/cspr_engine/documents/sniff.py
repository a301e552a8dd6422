"""What a file is, judged by its bytes alone (never its name nor the client's Content-Type).

Allowed: PDF, Word/Excel/PowerPoint (OOXML, without macros), OpenDocument text, PNG, JPEG and
plain UTF-8 text. Everything else is refused, by name where it is worth telling the user what
was seen: programs (Windows, Linux, macOS, `#!` scripts) and markup a browser could run
(HTML, SVG, XML).
"""

from __future__ import annotations

import codecs
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

HEAD_BYTES = 8192
# An office document has a few hundred entries at most; a ZIP listing more is refused unread.
MAX_ZIP_ENTRIES = 10_000
ODF_TEXT = "application/vnd.oasis.opendocument.text"
TEXT_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Kind:
    """One allowed type: its media type, a name for people and the file name extensions that
    go with it (the first is added to a served name that has none of them)."""

    media_type: str
    label: str
    extensions: tuple[str, ...]


PDF = Kind("application/pdf", "PDF", (".pdf",))
DOCX = Kind(
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "Word document",
    (".docx",),
)
XLSX = Kind(
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "Excel spreadsheet",
    (".xlsx",),
)
PPTX = Kind(
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "PowerPoint presentation",
    (".pptx",),
)
ODT = Kind(ODF_TEXT, "OpenDocument text", (".odt",))
PNG = Kind("image/png", "PNG image", (".png",))
JPEG = Kind("image/jpeg", "JPEG image", (".jpg", ".jpeg"))
TEXT = Kind("text/plain", "plain text", (".txt", ".csv", ".md", ".text"))

ALLOWED: tuple[Kind, ...] = (PDF, DOCX, XLSX, PPTX, ODT, PNG, JPEG, TEXT)
ALLOWED_LABELS: tuple[str, ...] = tuple(k.label for k in ALLOWED)
BY_MEDIA_TYPE = {k.media_type: k for k in ALLOWED}


@dataclass(frozen=True)
class Detection:
    """What the bytes are: an allowed `kind`, or None with `seen` saying what was found."""

    kind: Kind | None
    seen: str

    @property
    def allowed(self) -> bool:
        return self.kind is not None


_PROGRAMS: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "a Windows program (MZ/PE executable)"),
    (b"\x7fELF", "a Linux program (ELF executable)"),
    (b"\xfe\xed\xfa\xce", "a macOS program (Mach-O executable)"),
    (b"\xfe\xed\xfa\xcf", "a macOS program (Mach-O executable)"),
    (b"\xce\xfa\xed\xfe", "a macOS program (Mach-O executable)"),
    (b"\xcf\xfa\xed\xfe", "a macOS program (Mach-O executable)"),
    (b"\xca\xfe\xba\xbe", "a macOS universal program or Java class (executable)"),
    (b"#!", "a script (starts with #!)"),
)
# WHATWG MIME sniffing's HTML signatures, and XML (SVG is XML): what a browser might render.
_MARKUP_START = re.compile(
    r"<(?:(?:!doctype\s+html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body"
    r"|br|p|svg)[\s>/]|!--|\?xml)"
)
_MARKUP_ANYWHERE = re.compile(r"<(?:script|svg|html|iframe|object|embed)[\s>/]")


def detect(path: Path) -> Detection:
    """What the file at `path` is. Reads at most the head, the ZIP directory, or (for text)
    the file once, in chunks; never extracts an archive."""
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
    if not head:
        return Detection(None, "an empty file")
    for magic, seen in _PROGRAMS:
        if head.startswith(magic):
            return Detection(None, seen)
    if head.startswith(b"%PDF-"):
        return Detection(PDF, PDF.label)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Detection(PNG, PNG.label)
    if head.startswith(b"\xff\xd8\xff"):
        return Detection(JPEG, JPEG.label)
    if head.startswith(b"PK\x03\x04"):
        return _zip(path)
    return _text(path, head)


def _zip(path: Path) -> Detection:
    """An office document is a ZIP whose directory names its parts; the directory is read,
    no entry is extracted (one tiny `mimetype` entry is read, bounded)."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            if len(entries) > MAX_ZIP_ENTRIES:
                return Detection(None, f"a ZIP archive of more than {MAX_ZIP_ENTRIES} entries")
            names = {e.filename for e in entries}
            if any(n.lower().endswith("vbaproject.bin") for n in names):
                return Detection(None, "an Office document with macros")
            if "[Content_Types].xml" in names:
                for prefix, kind in (("word/", DOCX), ("xl/", XLSX), ("ppt/", PPTX)):
                    if any(n.startswith(prefix) for n in names):
                        return Detection(kind, kind.label)
            mimetype = next((e for e in entries if e.filename == "mimetype"), None)
            if mimetype is not None and mimetype.file_size <= 100:
                with archive.open(mimetype) as f:
                    declared = f.read(101).strip()
                if declared == ODF_TEXT.encode():
                    return Detection(ODT, ODT.label)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, ValueError, OSError):
        return Detection(None, "a damaged or unreadable ZIP archive")
    except (EOFError, RuntimeError):  # a truncated member; an encrypted one
        return Detection(None, "a damaged or encrypted ZIP archive")
    return Detection(None, "a ZIP archive that is not an allowed office document")


def _text(path: Path, head: bytes) -> Detection:
    """Plain UTF-8 text: decodes as UTF-8 throughout, has no NUL, and is not markup."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    with path.open("rb") as f:
        while chunk := f.read(TEXT_CHUNK):
            if b"\x00" in chunk:
                return Detection(None, "binary data of an unrecognised kind")
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return Detection(None, "binary data of an unrecognised kind, or text not in UTF-8")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return Detection(None, "text not in UTF-8")
    # The head may end inside a character: it is only looked at, not kept.
    start = head.decode("utf-8", errors="ignore").lstrip("\ufeff \t\r\n\f").lower()
    if _MARKUP_START.match(start) or _MARKUP_ANYWHERE.search(start):
        return Detection(None, "HTML, SVG or XML markup (a browser could run scripts in it)")
    return Detection(TEXT, TEXT.label)
