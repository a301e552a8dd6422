"""Every table, imported once so Alembic and the tests see the whole metadata."""

from cspr_engine.accounts.models import ApiToken, Partnership, User
from cspr_engine.approvals.models import ApprovalVote
from cspr_engine.audit.models import AuditEvent
from cspr_engine.cases.models import Case, CaseReferenceCounter
from cspr_engine.idempotency.models import IdempotencyRecord
from cspr_engine.kit.tables import metadata

__all__ = [
    "ApiToken",
    "ApprovalVote",
    "AuditEvent",
    "Case",
    "CaseReferenceCounter",
    "IdempotencyRecord",
    "Partnership",
    "User",
    "metadata",
]
