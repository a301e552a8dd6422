"""Delivering the outbox: signed webhooks over one httpx client, e-mail over SMTP.

Delivery is at least once. A sender claims due rows with a lease (FOR UPDATE SKIP LOCKED on
PostgreSQL), sends outside any transaction, then records the attempt. A sender that dies
between claim and send leaves the lease to expire and another sender takes the row again; the
event id it sends never changes, so receivers deduplicate on it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
from sqlalchemy import update
from sqlmodel import Session, col, select

from cspr_engine.alerts.models import Delivery, DeliveryAttempt, OutboxEvent, WebhookSubscription
from cspr_engine.config import Settings
from cspr_engine.kit import links, outbound
from cspr_engine.kit.outbound import DestinationRefused

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=6)


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    status_code: int | None = None
    response: str | None = None
    error: str | None = None
    permanent: bool = False  # no retry can succeed (e.g. the subscription was removed)


def tls_context(settings: Settings) -> ssl.SSLContext:
    """A client TLS context that verifies the server's certificate chain and its name, against
    the system's CA store or CSPR_SMTP_CA_FILE."""
    cafile = str(settings.smtp_ca_file) if settings.smtp_ca_file else None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def signing_key(secret: str) -> bytes:
    """Standard Webhooks secrets are `whsec_` + base64; any other string is used as it is."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except ValueError:
            pass
    return secret.encode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: HMAC-SHA256 of `id.timestamp.body`, base64, `v1,`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def claim(session: Session, *, now: datetime, lease: timedelta, limit: int) -> list[uuid.UUID]:
    """Lease up to `limit` due deliveries to this sender (commit to make the claim stick)."""
    query = (
        select(Delivery.id)
        .where(col(Delivery.status) == "pending", col(Delivery.next_attempt_at) <= now)
        .where((col(Delivery.lease_until).is_(None)) | (col(Delivery.lease_until) < now))
        .order_by(col(Delivery.next_attempt_at))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(session.exec(query))
    if ids:
        session.execute(
            update(Delivery)
            .where(col(Delivery.id).in_(ids))
            .values(lease_until=now + lease)
            .execution_options(synchronize_session=False)
        )
    return ids


class Sender:
    """Sends one delivery. One httpx client with explicit timeouts for every webhook."""

    def __init__(
        self,
        settings: Settings,
        client: httpx.Client | None = None,
        resolver: outbound.Resolver = outbound.resolve,
    ) -> None:
        self.settings = settings
        self.resolver = resolver
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(settings.webhook_timeout_seconds), follow_redirects=False
        )

    def close(self) -> None:
        self.client.close()

    def send(
        self,
        delivery: Delivery,
        event: OutboxEvent,
        subscription: WebhookSubscription | None = None,
    ) -> Outcome:
        """Send one delivery; no database session is held while it is on the wire."""
        try:
            if delivery.channel == "webhook":
                if subscription is None or subscription.disabled_at is not None:
                    return Outcome(False, error="subscription removed", permanent=True)
                return self._webhook(subscription, with_links(self.settings, event.payload))
            if delivery.channel == "email":
                return self._email(delivery.target, event.payload)
            return Outcome(False, error=f"unknown channel {delivery.channel}")
        except (httpx.HTTPError, OSError, smtplib.SMTPException) as exc:
            return Outcome(False, error=f"{type(exc).__name__}: {str(exc)[:300]}")

    def _webhook(self, subscription: WebhookSubscription, payload: dict[str, Any]) -> Outcome:
        try:
            # Again at every delivery: the name may resolve elsewhere since it was subscribed.
            outbound.check(subscription.url, self.settings.webhook_destinations, self.resolver)
        except DestinationRefused as exc:
            log.warning("webhook %s refused: %s", subscription.id, exc.rule)
            return Outcome(False, error=f"refused ({exc.rule}): {exc.message}")
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        timestamp = int(time.time())
        message_id = str(payload["id"])
        response = self.client.post(
            subscription.url,
            content=body,
            headers={
                "content-type": "application/json",
                "webhook-id": message_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(subscription.secret, message_id, timestamp, body),
            },
        )
        return Outcome(
            succeeded=200 <= response.status_code < 300,
            status_code=response.status_code,
            response=response.text[:2048],
        )

    def _email(self, address: str, payload: dict[str, Any]) -> Outcome:
        settings = self.settings
        if not settings.smtp_host:
            return Outcome(False, error="no SMTP server configured")
        message = compose_email(settings, address, payload)
        mode = settings.smtp_mode
        timeout = settings.webhook_timeout_seconds
        smtp: smtplib.SMTP
        if mode == "tls":
            smtp = smtplib.SMTP_SSL(
                settings.smtp_host,
                settings.smtp_port,
                timeout=timeout,
                context=tls_context(settings),
            )
        else:
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
        with smtp:
            if mode == "starttls":
                # Nothing (no sign-in, no alert) is sent until the certificate is verified.
                smtp.starttls(context=tls_context(settings))
            if settings.smtp_username and settings.smtp_password:
                smtp.login(settings.smtp_username, settings.smtp_password)
            refused = smtp.send_message(message)
        if refused:
            return Outcome(False, error=f"refused: {', '.join(refused)}")
        return Outcome(True, status_code=250)


def with_links(settings: Settings, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as a webhook sends it: with `links.case`, the case's page at the public
    base URL, so a receiver can take its users straight to the case."""
    reference = payload.get("case_reference")
    if not reference:
        return payload
    return {**payload, "links": {"case": links.case_page(settings.public_base_url, reference)}}


EVENT_WORDS = {
    "deadline.warning": "is due soon",
    "deadline.breached": "has been missed",
    "deadline.escalated": "is still overdue",
    "approval.disputed": "is disputed",
}


def compose_email(settings: Settings, address: str, payload: dict[str, Any]) -> EmailMessage:
    """A short e-mail: case reference, what is due or disputed, a link. No case content."""
    data = payload.get("data", {})
    reference = payload.get("case_reference") or ""
    if not reference:
        return _compose_notice(settings, address, payload, data)
    what = data.get("label") or data.get("gate") or payload["type"]
    words = EVENT_WORDS.get(payload["type"], payload["type"])
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = address
    message["Subject"] = f"{reference}: {what} {words}"
    message["Message-ID"] = f"<{payload['id']}@cspr-engine>"
    link = links.case_page(settings.public_base_url, reference)
    lines = [f"Case {reference}: {what} {words}."]
    if "due_on" in data:
        lines.append(f"Due: {data['due_on']} (end of the day, UK time).")
    if "basis" in data:
        lines.append(f"Basis: {data['basis']}.")
    lines += ["", f"Open the case: {link}", "", f"Alert id: {payload['id']}"]
    message.set_content("\n".join(lines))
    return message


def _compose_notice(
    settings: Settings, address: str, payload: dict[str, Any], data: dict[str, Any]
) -> EmailMessage:
    """An alert about no case (an administrator's act): what happened, and where it is kept."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = address
    message["Subject"] = str(data.get("subject") or payload["type"])
    message["Message-ID"] = f"<{payload['id']}@cspr-engine>"
    link = f"{settings.public_base_url}/ui/administrative-record"
    lines = [
        str(data.get("subject") or payload["type"]) + ".",
        "",
        f"The administrative record: {link}",
        "",
        f"Alert id: {payload['id']}",
    ]
    message.set_content("\n".join(lines))
    return message


def record(
    session: Session,
    *,
    delivery_id: uuid.UUID,
    outcome: Outcome,
    now: datetime,
    duration_ms: int,
    settings: Settings,
) -> None:
    """Keep the attempt; mark the delivery done, due again after a backoff, or dead.

    A sender slower than its lease may find that another sender took the delivery again and
    finished it first. Its attempt is kept, but it never undoes what is settled: a delivered
    alert stays delivered (a late failure does not schedule it again) and a dead one stays
    dead. The row is locked while this is decided, so two senders' records are serial.
    """
    delivery = session.get(Delivery, delivery_id, with_for_update=True)
    if delivery is None:  # pragma: no cover - deliveries are never deleted
        return
    delivery.attempts += 1
    session.add(
        DeliveryAttempt(
            delivery_id=delivery.id,
            attempt=delivery.attempts,
            at=now,
            succeeded=outcome.succeeded,
            status_code=outcome.status_code,
            response=outcome.response,
            error=outcome.error,
            duration_ms=duration_ms,
        )
    )
    if delivery.status != "pending":
        return  # settled by another sender meanwhile: keep its outcome (and its lease state)
    delivery.lease_until = None
    if outcome.succeeded:
        delivery.status = "delivered"
        delivery.delivered_at = now
        delivery.last_error = None
        return
    delivery.last_error = outcome.error or f"HTTP {outcome.status_code}"
    if outcome.permanent or delivery.attempts >= settings.webhook_max_attempts:
        delivery.status = "dead"
        log.warning("delivery %s is dead after %d attempts", delivery.id, delivery.attempts)
        return
    backoff = timedelta(seconds=settings.delivery_backoff_seconds * 2 ** (delivery.attempts - 1))
    delivery.next_attempt_at = now + min(backoff, MAX_BACKOFF)
