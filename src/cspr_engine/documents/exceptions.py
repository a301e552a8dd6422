"""Errors about documents (see the tree in cspr_engine.errors).

NotFound (404) .............. DocumentNotFound
Forbidden (403) ............. UploadForbidden, WithdrawForbidden
Conflict (409) .............. DocumentAlreadyWithdrawn
Gone (410) .................. DocumentWithdrawn
PayloadTooLarge (413) ....... DocumentTooLarge
UnsupportedMediaType (415) .. DocumentTypeRefused, MultipartRequired
BadRequest (400) ............ MalformedUpload
ServiceUnavailable (503) .... DocumentIntegrityFailed, DocumentStoreUnavailable
"""

from __future__ import annotations

from cspr_engine.errors import (
    BadRequest,
    Conflict,
    CsprError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
)


class DocumentNotFound(NotFound):
    slug, title = "document-not-found", "No such document on this case"


class UploadForbidden(Forbidden):
    slug, title = "document-upload-forbidden", "You may not attach this document to the case"


class WithdrawForbidden(Forbidden):
    slug, title = "document-withdraw-forbidden", "Your role may not withdraw a document"


class DocumentAlreadyWithdrawn(Conflict):
    slug, title = "document-already-withdrawn", "The document is already withdrawn"


class DocumentWithdrawn(CsprError):
    """A withdrawn document's bytes are kept (see service.withdraw) but no longer served."""

    status, slug, title = 410, "document-withdrawn", "The document was withdrawn"


class DocumentTooLarge(PayloadTooLarge):
    slug, title = "document-too-large", "The document is too large"


class DocumentTypeRefused(UnsupportedMediaType):
    slug, title = "document-type-refused", "That kind of file is not accepted"


class MultipartRequired(UnsupportedMediaType):
    slug, title = "multipart-required", "Send the document as multipart/form-data"


class MalformedUpload(BadRequest):
    slug, title = "malformed-upload", "The multipart body could not be read"


class DocumentIntegrityFailed(ServiceUnavailable):
    """The stored bytes no longer match the SHA-256 recorded at upload (or are missing).

    A server-side fault the caller can neither cause nor fix, so a 5xx; 503 rather than 500
    because it is a known, named condition of one document (the rest of the service works)
    that an operator resolves by restoring the file, and no input can bring it about.
    """

    slug, title = "document-integrity-failed", "The stored document failed its integrity check"


class DocumentStoreUnavailable(ServiceUnavailable):
    slug, title = "document-store-unavailable", "The document store cannot be written to"
