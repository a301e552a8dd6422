"""Where webhooks may go, and how they are signed: a subscription to a loopback, private or
link-local address, or to a name resolving to one, is refused naming the rule unless a setting
allows it; every delivery checks the name again; secrets are Standard Webhooks secrets (made
by the service when none is given) and deliveries pass the Standard Webhooks project's own
verifier."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cspr_engine.alerts.delivery import Outcome, Sender
from cspr_engine.alerts.models import Delivery, OutboxEvent, WebhookSubscription
from cspr_engine.config import get_settings
from cspr_engine.kit.clock import FixedClock
from cspr_engine.scheduler import jobs
from tests.factories import Api, Receiver, assert_problem, clock_tables, deliver

HOOKS = "/api/v1/webhooks"


def allowing(monkeypatch: pytest.MonkeyPatch, listed: str) -> Iterator[None]:
    """The settings, and so the app, with only `listed` allowed besides public https."""
    monkeypatch.setenv("CSPR_WEBHOOK_ALLOWED_DESTINATIONS", listed)
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def strict(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Empty is "unset" for the settings: nothing but public https is allowed.
    yield from allowing(monkeypatch, "")


@pytest.fixture
def inside_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from allowing(monkeypatch, "10.20.0.0/16")


def subscribe(api: Api, url: str, **extra: Any) -> Any:
    body = {"url": url, "events": ["deadline.breached"], **extra}
    return api.client.post(HOOKS, json=body, headers=api.headers("admin"))


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://127.0.0.1:8443/hooks", "it is a loopback address"),
        ("https://[::1]:5432/", "it is a loopback address"),
        ("https://10.20.30.40/hooks", "it is a private address"),
        ("https://169.254.169.254/latest/meta-data/", "it is a link-local address"),
        ("https://localhost/hooks", "localhost resolves to "),
    ],
    ids=["loopback", "v6-loopback-postgres", "private", "metadata", "name-to-loopback"],
)
def test_a_subscription_to_an_inside_address_is_refused(
    strict: None, api: Api, url: str, says: str
) -> None:
    before = clock_tables()
    problem = assert_problem(subscribe(api, url), 422, "/problems/invalid-data")
    [error] = problem["errors"]
    assert error["loc"] == "url"
    assert error["type"] == "private-address"
    assert says in error["message"]
    assert error["message"].endswith("(rule: private-address)")
    assert api.client.get(HOOKS, headers=api.headers("admin")).json()["items"] == []
    assert clock_tables() == before


def test_plain_http_is_refused_outside_development(strict: None, api: Api) -> None:
    problem = assert_problem(subscribe(api, "http://partner.example.org/hooks"), 422)
    assert problem["errors"][0]["type"] == "https-required"


def test_the_setting_allows_a_named_network(inside_network: None, api: Api) -> None:
    created = subscribe(api, "http://10.20.30.40/hooks")
    assert created.status_code == 201, created.text
    assert created.json()["url"] == "http://10.20.30.40/hooks"
    refused = assert_problem(subscribe(api, "https://10.99.0.1/"), 422)
    assert refused["errors"][0]["type"] == "private-address"


def test_a_secret_is_made_when_none_is_given_and_deliveries_pass_the_official_verifier(
    api: Api, clock: FixedClock
) -> None:
    with Receiver() as receiver:
        created = subscribe(api, receiver.url)
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        assert secret.startswith("whsec_")
        # Shown this once: never in a listing.
        assert (
            "secret" not in api.client.get(HOOKS, headers=api.headers("admin")).json()["items"][0]
        )
        api.create_case(who="chair", became_aware_on="2026-06-09")
        assert jobs.sweep_deadlines(clock) >= 1
        assert deliver(clock) >= 1
        [got] = receiver.received
    verified = Webhook(secret).verify(got.body, got.headers)
    assert verified["type"] == "deadline.breached"
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJD" * 11).verify(got.body, got.headers)


def test_a_secret_given_is_not_shown_back(api: Api) -> None:
    given = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwIhMrbIxyAiY="
    created = subscribe(api, "https://partner.example.org/hooks", secret=given)
    assert created.status_code == 201, created.text
    assert created.json()["secret"] is None
    assert given not in created.text


@pytest.mark.parametrize(
    "secret",
    ["a-long-enough-but-plain-secret", "whsec_not base64!", "whsec_" + "QUJD" * 4, ""],
    ids=["no-prefix", "not-base64", "too-short", "empty"],
)
def test_a_secret_that_is_no_standard_webhooks_secret_is_refused(api: Api, secret: str) -> None:
    problem = assert_problem(
        subscribe(api, "https://partner.example.org/hooks", secret=secret), 422
    )
    [error] = problem["errors"]
    assert error["loc"] == "secret"
    assert "Standard Webhooks secret" in error["message"]


def test_a_delivery_is_refused_when_the_name_now_resolves_inside(clock: FixedClock) -> None:
    """DNS rebinding: the name was public when subscribed, and points inside at delivery."""
    settings = get_settings().model_copy(update={"webhook_allowed_destinations": ""})
    subscription = WebhookSubscription(
        partnership_id=uuid.uuid4(),
        url="https://receiver.partner.example/hooks",
        events=["*"],
        secret="whsec_" + "QUJD" * 8,
        created_by=uuid.uuid4(),
        created_at=clock.now(),
    )
    event = OutboxEvent(
        dedupe_key="x", type="deadline.breached", payload={"id": "e1"}, occurred_at=clock.now()
    )
    delivery = Delivery(event_id=event.id, channel="webhook", target=str(subscription.id))
    asked: list[str] = []

    def rebound(host: str, port: int) -> list[str]:
        asked.append(f"{host}:{port}")
        return ["192.168.0.7"]

    sender = Sender(settings, resolver=rebound)
    try:
        outcome = sender.send(delivery, event, subscription)
    finally:
        sender.close()
    assert asked == ["receiver.partner.example:443"]
    assert outcome == Outcome(
        False,
        error="refused (private-address): Webhooks are delivered to public addresses only: "
        "receiver.partner.example resolves to 192.168.0.7, a private address.",
    )
