"""Reading an upload: a multipart/form-data body streamed straight into the document store.

The file part goes, chunk by chunk, into a temporary file in the store (counted, hashed and
refused beyond the size limit as it arrives); the few text fields are kept, each bounded. No
part of the body is held whole in memory, and nothing is spooled anywhere but the store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import python_multipart
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from cspr_engine.config import Settings
from cspr_engine.documents.exceptions import (
    DocumentTooLarge,
    MalformedUpload,
    MultipartRequired,
)
from cspr_engine.documents.storage import DocumentStore, PendingFile, describe_size
from cspr_engine.errors import FieldError, InvalidData, PayloadTooLarge

if TYPE_CHECKING:  # a TypedDict python-multipart declares for type checkers only
    from python_multipart.multipart import MultipartCallbacks

FILE_FIELD = "file"
MAX_FIELDS = 10
MAX_FIELD_BYTES = 4096
# The routes that take an upload (kit.limits lets their bodies past the usual limit), and how
# much a body may carry besides the document: boundaries, part headers, the few text fields.
UPLOAD_PATHS = (r"^/api/v1/cases/[^/]+/documents$", r"^/ui/cases/[^/]+/documents$")
MULTIPART_ENVELOPE = 64 * 1024


def body_allowances(settings: Settings) -> list[tuple[re.Pattern[str], int]]:
    """kit.limits' allowances: an upload's body may be a document and its envelope."""
    allowed = settings.max_document_bytes + MULTIPART_ENVELOPE
    return [(re.compile(path), allowed) for path in UPLOAD_PATHS]


@dataclass
class Upload:
    """What a multipart body held: its text fields, and the file (still a temporary file of
    the store, finished and fsync'ed) with the name the client gave it."""

    fields: dict[str, str] = field(default_factory=dict)
    file: PendingFile | None = None
    filename: str = ""

    def discard(self) -> None:
        if self.file is not None:
            self.file.discard()


def _invalid(loc: str, message: str, type_: str) -> InvalidData:
    return InvalidData([FieldError(loc=loc, message=message, type=type_)])


class _Reader:
    """python-multipart's callbacks, collecting one file and a few fields."""

    def __init__(self, store: DocumentStore, max_bytes: int) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.upload = Upload()
        self.ended = False
        self._disposition = b""
        self._header_name = b""
        self._header_value = b""
        self._name = ""
        self._is_file = False
        self._value = bytearray()
        self._to_write: list[bytes] = []

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self._disposition = b""
        self._name = ""
        self._is_file = False
        self._value = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise MalformedUpload("Every part of the body needs a Content-Disposition name.")
        self._name = options[b"name"].decode("utf-8", errors="replace")
        if b"filename" not in options:
            if len(self.upload.fields) >= MAX_FIELDS:
                raise _invalid("body", f"send at most {MAX_FIELDS} fields", "too_many_fields")
            return
        if self._name != FILE_FIELD:
            raise _invalid(self._name, f"send the document in the field {FILE_FIELD!r}", "file")
        if self.upload.file is not None:
            raise _invalid(FILE_FIELD, "send one file at a time", "one_file")
        self._is_file = True
        self.upload.filename = options[b"filename"].decode("utf-8", errors="replace")
        self.upload.file = self.store.begin(self.max_bytes)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            self._to_write.append(data[start:end])
            return
        self._value += data[start:end]
        if len(self._value) > MAX_FIELD_BYTES:
            raise _invalid(self._name, f"is longer than {MAX_FIELD_BYTES} bytes", "too_long")

    def on_part_end(self) -> None:
        if self._is_file:
            return
        try:
            text = self._value.decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid(self._name, "must be UTF-8 text", "encoding") from None
        if self._name in self.upload.fields:
            raise _invalid(self._name, "send this field once", "duplicate")
        self.upload.fields[self._name] = text

    def on_end(self) -> None:
        self.ended = True

    async def write_pending(self) -> None:
        if not self._to_write:
            return
        chunks, self._to_write = self._to_write, []
        assert self.upload.file is not None
        pending = self.upload.file

        def write() -> None:
            for chunk in chunks:
                pending.write(chunk)

        await run_in_threadpool(write)


def boundary_of(request: Request) -> bytes:
    media_type, options = parse_options_header(request.headers.get("content-type"))
    if media_type != b"multipart/form-data":
        raise MultipartRequired(
            "Send the document as multipart/form-data with the fields file, kind and title."
        )
    boundary = options.get(b"boundary")
    if not boundary:
        raise MalformedUpload("The Content-Type names no multipart boundary.")
    return boundary


async def receive(request: Request, store: DocumentStore, *, max_bytes: int) -> Upload:
    """The upload in `request`'s body. On any failure the temporary file is gone."""
    boundary = boundary_of(request)
    reader = _Reader(store, max_bytes)
    try:
        try:
            parser = python_multipart.MultipartParser(boundary, reader.callbacks())
        except FormParserError as exc:
            raise MalformedUpload("The multipart boundary is not valid.") from exc
        async for chunk in request.stream():
            parser.write(chunk)
            await reader.write_pending()
            if reader.ended:
                break
        parser.finalize()
        if not reader.ended:
            raise MalformedUpload("The multipart body ended before its closing boundary.")
        if reader.upload.file is not None:
            await run_in_threadpool(reader.upload.file.finish)
    except DocumentTooLarge:
        reader.upload.discard()
        raise
    except PayloadTooLarge as exc:
        # The whole body outgrew what the route allows (kit.limits): the document is too large.
        reader.upload.discard()
        raise DocumentTooLarge(
            f"A document may be at most {describe_size(max_bytes)} ({max_bytes:,} bytes).",
            max_bytes=max_bytes,
        ) from exc
    except FormParserError as exc:
        reader.upload.discard()
        raise MalformedUpload("The multipart body could not be read.") from exc
    except ClientDisconnect as exc:
        reader.upload.discard()
        raise MalformedUpload("The upload was cut short.") from exc
    except BaseException:
        reader.upload.discard()
        raise
    return reader.upload
