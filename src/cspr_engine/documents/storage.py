"""The document store: one file per document in a directory (`CSPR_DOCUMENTS_DIR`), named by
a random storage key, never by anything a user sent.

An upload is written to a temporary file in the same directory (`.upload-*.part`), hashed and
counted as it arrives, fsync'ed, and only then renamed to its key: a crash leaves a stray
temporary file at worst, never half a document under a real key. Renaming within one directory
is atomic, so a reader sees the whole file or none.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import BinaryIO

from cspr_engine.documents.exceptions import DocumentStoreUnavailable, DocumentTooLarge

log = logging.getLogger(__name__)

TEMP_PREFIX = ".upload-"
TEMP_SUFFIX = ".part"
_KEY = re.compile(r"^[0-9a-f]{32}$")


def _unavailable(exc: OSError) -> DocumentStoreUnavailable:
    # The class and errno only: a path is configuration, but nothing more is needed.
    log.error("document store: %s (errno %s)", type(exc).__name__, exc.errno)
    return DocumentStoreUnavailable("Documents cannot be stored just now; try again later.")


class PendingFile:
    """An upload being received: bytes are written, counted and hashed as they arrive, and
    refused beyond `max_bytes` (nothing more is written)."""

    def __init__(self, store: DocumentStore, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._hash = hashlib.sha256()
        self._store = store
        try:
            fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=store.root)
        except OSError as exc:
            raise _unavailable(exc) from exc
        self.path = Path(name)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")
        self.kept_as: str | None = None

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def write(self, data: bytes) -> None:
        if self.size + len(data) > self.max_bytes:
            raise DocumentTooLarge(
                f"A document may be at most {describe_size(self.max_bytes)} "
                f"({self.max_bytes:,} bytes).",
                max_bytes=self.max_bytes,
            )
        assert self._file is not None, "written after it was finished"
        try:
            self._file.write(data)
        except OSError as exc:
            raise _unavailable(exc) from exc
        self.size += len(data)
        self._hash.update(data)

    def finish(self) -> None:
        """Every byte on disk (flushed and fsync'ed) before the file may be kept."""
        if self._file is None:
            return
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise _unavailable(exc) from exc
        finally:
            self._file.close()
            self._file = None

    def discard(self) -> None:
        """Remove the temporary file (nothing, once it is kept under its key)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.kept_as is None:
            self.path.unlink(missing_ok=True)


class DocumentStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def begin(self, max_bytes: int) -> PendingFile:
        """A new temporary file for an upload (the directory is created on first use)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise _unavailable(exc) from exc
        return PendingFile(self, max_bytes)

    def keep(self, pending: PendingFile) -> str:
        """Move a finished upload under a new random key; returns the key."""
        pending.finish()
        key = secrets.token_hex(16)
        try:
            os.replace(pending.path, self.path(key))
            self._sync_directory()
        except OSError as exc:
            raise _unavailable(exc) from exc
        pending.kept_as = key
        return key

    def open(self, key: str) -> BinaryIO:
        """The stored file for reading; FileNotFoundError if it is gone."""
        return self.path(key).open("rb")

    def remove(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def path(self, key: str) -> Path:
        # A key comes from the database; even so it must be one this store made (no path
        # could be smuggled through a tampered row).
        if not _KEY.match(key):
            raise ValueError("not a storage key")
        return self.root / key

    def _sync_directory(self) -> None:
        """The rename itself survives a crash once the directory is fsync'ed (POSIX)."""
        if not hasattr(os, "O_DIRECTORY"):  # pragma: no cover - not on Windows
            return
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def describe_size(size: int) -> str:
    """`20 MB`, `512 KB`, `300 bytes`: sizes as people read them (1 MB = 1,048,576 bytes)."""
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= scale:
            value = size / scale
            return (
                f"{value:.0f} {unit}"
                if value >= 10 or value.is_integer()
                else f"{value:.1f} {unit}"
            )
    return f"{size} bytes" if size != 1 else "1 byte"
