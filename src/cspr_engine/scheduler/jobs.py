"""The scheduler's jobs. Each opens its own sessions and commits per unit of work; all the
state they act on is in the database, so a restart or a second process loses nothing."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

from sqlmodel import Session

from cspr_engine.alerts import delivery
from cspr_engine.alerts.models import Delivery, OutboxEvent, WebhookSubscription
from cspr_engine.config import Settings
from cspr_engine.db import get_engine, writer_bind
from cspr_engine.deadlines import service as deadline_service
from cspr_engine.kit.clock import Clock

log = logging.getLogger(__name__)

SWEEP_BATCH = 500
MAX_SWEEP_BATCHES = 2_000
MAX_DELIVERY_BATCH = 50
MAX_DELIVERY_BATCHES = 200


def delivery_batch(settings: Settings) -> int:
    """How many deliveries one sender leases at a time: few enough that it can try each of
    them, even against receivers that time out, before its lease runs out."""
    per_delivery = settings.webhook_timeout_seconds * 1.5
    return max(1, min(MAX_DELIVERY_BATCH, int(settings.delivery_lease_seconds // per_delivery)))


def sweep_deadlines(clock: Clock, *, batch: int = SWEEP_BATCH) -> int:
    """Fire every rung due by now; returns the number of alerts written."""
    alerts = 0
    for _ in range(MAX_SWEEP_BATCHES):
        with Session(writer_bind(get_engine())) as session:
            result = deadline_service.sweep(session, now=clock.now(), limit=batch)
            session.commit()
        alerts += result.alerts
        if result.examined < batch:
            break
    if alerts:
        log.info("sweep wrote %d alert(s)", alerts)
    return alerts


def deliver_alerts(clock: Clock, sender: delivery.Sender, settings: Settings) -> int:
    """Send every delivery that is due; returns how many succeeded."""
    engine = get_engine()
    lease = timedelta(seconds=settings.delivery_lease_seconds)
    batch = delivery_batch(settings)
    succeeded = 0
    for _ in range(MAX_DELIVERY_BATCHES):
        with Session(writer_bind(engine)) as session:
            ids = delivery.claim(session, now=clock.now(), lease=lease, limit=batch)
            session.commit()
        for delivery_id in ids:
            with Session(engine, expire_on_commit=False) as session:
                row = session.get(Delivery, delivery_id)
                event = session.get(OutboxEvent, row.event_id) if row else None
                subscription = (
                    session.get(WebhookSubscription, uuid.UUID(row.target))
                    if row is not None and row.channel == "webhook"
                    else None
                )
                session.commit()  # end the read (keeping the rows) before anything is sent
            if row is None or event is None:  # pragma: no cover
                continue
            started = time.monotonic()
            outcome = sender.send(row, event, subscription)
            duration_ms = int((time.monotonic() - started) * 1000)
            with Session(writer_bind(engine)) as session:
                delivery.record(
                    session,
                    delivery_id=delivery_id,
                    outcome=outcome,
                    now=clock.now(),
                    duration_ms=duration_ms,
                    settings=settings,
                )
                session.commit()
            succeeded += int(outcome.succeeded)
        if len(ids) < batch:
            break
    return succeeded
