"""Every table, imported once so Alembic and the tests see the whole metadata."""

from cspr_engine.accounts.models import ApiToken, Partnership, SignInAttempt, User, WebSession
from cspr_engine.actions.models import ActionUpdate, ImprovementAction
from cspr_engine.admin_audit.models import AdminEvent
from cspr_engine.alerts.models import (
    AlertRecipient,
    Delivery,
    DeliveryAttempt,
    OutboxEvent,
    WebhookSubscription,
)
from cspr_engine.approvals.models import ApprovalVote
from cspr_engine.audit.models import AccessEvent, AuditEvent
from cspr_engine.cases.models import Case, CaseReferenceCounter
from cspr_engine.configuration.models import WorkflowConfiguration
from cspr_engine.deadlines.models import CalendarAddition, Deadline, DeadlineExtension
from cspr_engine.documents.models import Document
from cspr_engine.feeds.models import CalendarFeed  # issue #7: calendar feeds
from cspr_engine.idempotency.models import IdempotencyRecord
from cspr_engine.information_requests.models import InformationRequest
from cspr_engine.kit.tables import metadata
from cspr_engine.links.models import CaseLink, CaseShare

__all__ = [
    "AccessEvent",
    "ActionUpdate",
    "AdminEvent",
    "AlertRecipient",
    "ApiToken",
    "ApprovalVote",
    "AuditEvent",
    "CalendarAddition",
    "CalendarFeed",
    "Case",
    "CaseLink",
    "CaseReferenceCounter",
    "CaseShare",
    "Deadline",
    "DeadlineExtension",
    "Delivery",
    "DeliveryAttempt",
    "Document",
    "IdempotencyRecord",
    "ImprovementAction",
    "InformationRequest",
    "OutboxEvent",
    "Partnership",
    "SignInAttempt",
    "User",
    "WebSession",
    "WebhookSubscription",
    "WorkflowConfiguration",
    "metadata",
]
