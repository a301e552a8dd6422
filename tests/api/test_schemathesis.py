"""Issue #8: the API fuzzed against its committed OpenAPI document (openapi/openapi.json, read
from the file, not from the app) on a real uvicorn server, as eight callers from a platform
admin down to no credentials at all.

The data is real: cases in several states with an information request, an improvement action,
a document, a link and a share; a webhook, a calendar feed, a spare token. Path parameters are
drawn both from what hypothesis generates and from these real ids, so the fuzzing reaches the
routes' work and not only their 404s. Every response must: not be a 5xx, have a documented
status, a documented content type, a body matching its schema and the documented headers.
Bounded: a fixed number of examples per operation and caller, derandomized, hypothesis's
example database off (nothing is written into the repository).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cspr_engine.api.openapi import SPEC_PATH
from tests.actions.support import add_action, to_action_monitoring
from tests.conftest import NOW
from tests.documents.support import use_documents_dir
from tests.factories import Api, Directory, create_platform_admin, remember_secret

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@dataclass(frozen=True)
class Caller:
    """Who calls: a person of PEOPLE in a partnership, the platform admin, or nobody; and how
    many examples each operation gets as them."""

    name: str
    who: str | None
    partnership: str = "TW"
    examples: int = 4


# Operations that take no credentials: fuzzed once, as nobody (a token would change nothing).
# (/metrics asks for its own token only when CSPR_METRICS_TOKEN is set; here it is not.)
PUBLIC = {"POST /api/v1/auth/sign-in", "GET /healthz", "GET /readyz", "GET /metrics"}


CALLERS = [
    Caller("platform-admin", "platform"),
    Caller("partnership-admin", "admin"),
    # The CSPR (panel) chair, and a local authority member holding every case role (fires
    # any trigger, so the fuzzing reaches every state change a caller may make).
    Caller("chair", "chair"),
    Caller("local-authority", "superuser"),
    Caller("police", "dsp_police"),
    Caller("scrutineer", "scrutineer"),
    # The seeded ids are TW's (one case shared with OT) and one OT case: what the other
    # partnership may see of them is access.policy's call, and never a 5xx.
    Caller("other-partnership", "superuser", partnership="OT"),
    # Refused before any parameter is looked at: a couple of examples prove the 401 is documented.
    Caller("anonymous", None, examples=2),
]


@pytest.fixture(autouse=True)
def documents_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    # Uploads (seeded and fuzzed) go to a temporary directory, never the repository's var/.
    yield from use_documents_dir(tmp_path, monkeypatch)


@dataclass
class Seeded:
    """The real ids, as path parameter values: `bundles` name one case and the things on it,
    so an operation with several path parameters gets a consistent set."""

    bundles: list[dict[str, str]]
    tokens: dict[str, str]


def _created(response: Any) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def seed(api: Api, platform_token: str) -> Seeded:
    """TW cases in two states (referred; action monitoring, shared with OT) with the things that
    hang off them, and an OT case, made by real requests."""
    tw = api.headers
    referred = api.create_case(who="chair")
    monitored = to_action_monitoring(api)
    mid = monitored["id"]
    action = add_action(api, mid)
    # Agencies are asked for returns early in a case: the referred one.
    requests_made = _created(
        api.client.post(
            f"/api/v1/cases/{referred['id']}/information-requests",
            json={"agencies": ["police"], "asked": "A chronology of contact."},
            headers=tw("business"),
        )
    )["items"]
    document = _created(
        api.client.post(
            f"/api/v1/cases/{mid}/documents",
            files={"file": ("chronology.txt", b"Chronology of contact.\n", "text/plain")},
            data={"kind": "information_return", "title": "Police chronology"},
            headers=tw("chair"),
        )
    )
    link = _created(
        api.client.post(
            f"/api/v1/cases/{mid}/links",
            json={"type": "sibling", "target": referred["reference"]},
            headers=tw("chair"),
        )
    )
    share = _created(
        api.client.post(
            f"/api/v1/cases/{mid}/shares",
            json={"partnership": "OT", "reason": "The family moved to OT's area."},
            headers=tw("chair"),
        )
    )
    clocks = api.client.get(f"/api/v1/cases/{mid}/deadlines", headers=tw("chair")).json()["items"]
    webhook = _created(
        api.client.post(
            "/api/v1/webhooks",
            json={
                "url": "https://partner.example.org/cspr",
                "events": ["*"],
                "secret": "whsec_" + "c2VjcmV0" * 4,
            },
            headers=tw("admin"),
        )
    )
    feed = _created(
        api.client.post("/api/v1/calendar-feeds", json={"name": "Outlook"}, headers=tw("chair"))
    )
    remember_secret(str(feed["url"]).rsplit("/", 1)[-1].removesuffix(".ics"))
    # A spare token (not one a caller uses: revoking it must not end the run early).
    spare = _created(
        api.client.post(
            "/api/v1/tokens",
            json={"user_id": api.directory.user_ids["TW"]["qpd"], "name": "spare"},
            headers=tw("qpd"),
        )
    )
    remember_secret(str(spare["token"]))
    ot_case = api.create_case(who="chair", partnership="OT")
    bundles = [
        {
            "case_id": mid,
            "action_id": str(action["id"]),
            "document_id": str(document["id"]),
            "link_id": str(link["id"]),
            "share_id": str(share["id"]),
            "gate": "dsp_joint_decision",
            "key": str(clocks[0]["key"]),
            "webhook_id": str(webhook["id"]),
            "feed_id": str(feed["id"]),
            "token_id": str(spare["id"]),
            "name": str(monitored["workflow"]),
        },
        # The same case by its reference, and an action by its number.
        {"case_id": monitored["reference"], "action_id": "A1", "gate": "dsp_joint_decision"},
        {
            "case_id": referred["id"],
            "request_id": str(requests_made[0]["id"]),
            "gate": "dsp_joint_decision",
            "key": "panel_notification",
        },
        {"case_id": ot_case["id"]},
    ]
    tokens = {
        c.name: platform_token if c.who == "platform" else api.directory.token(c.who, c.partnership)
        for c in CALLERS
        if c.who is not None
    }
    return Seeded(bundles=bundles, tokens=tokens)


def strategy(operation: Any, seeded: Seeded) -> st.SearchStrategy[Any]:
    """The operation's generated cases, mostly with real ids in the path: every path
    parameter real (first: hypothesis tries the first branch first), some of them real (a
    real case, a made-up action), or all generated."""
    names = {p.name for p in operation.path_parameters}
    generated: st.SearchStrategy[Any] = operation.as_strategy()
    if not names:
        return generated
    whole: list[st.SearchStrategy[Any]] = []
    partial: list[st.SearchStrategy[Any]] = []
    for bundle in seeded.bundles:
        given = {k: v for k, v in bundle.items() if k in names}
        if given:
            target = whole if set(given) == names else partial
            target.append(operation.as_strategy(path_parameters=given))
    return st.one_of(*whole, *whole, *partial, generated)


@dataclass
class Tally:
    """What the run did: operation-caller pairs, examples, and the statuses each caller got."""

    pairs: int = 0
    examples: int = 0
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    failures: list[str] = field(default_factory=list)

    def reached(self, caller: str) -> int:
        """How many of the caller's requests got past authentication and lookups to a 2xx."""
        return sum(n for status, n in self.statuses[caller].items() if 200 <= status < 300)


def fuzz(
    operation: Any,
    caller: Caller,
    seeded: Seeded,
    base_url: str,
    http: requests.Session,
    tally: Tally,
) -> None:
    """Runs the operation's examples as `caller`, recording each status and any failure (the
    first per pair: hypothesis stops there, and the other pairs still run)."""
    headers = {}
    if caller.who is not None:
        headers["Authorization"] = f"Bearer {seeded.tokens[caller.name]}"

    @hypothesis.settings(
        max_examples=caller.examples,
        derandomize=True,
        database=None,
        deadline=None,
        # No shrinking: a failure is reported as found (with its request), in bounded time.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @hypothesis.given(case=strategy(operation, seeded))
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, session=http, headers=headers, timeout=30)
        tally.examples += 1
        tally.statuses[caller.name][response.status_code] += 1
        if caller.who is None and operation.label not in PUBLIC and response.status_code < 400:
            tally.failures.append(f"{operation.label} answered {response.status_code} to nobody")
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:
            tally.failures.append(
                f"{operation.label} as {caller.name}: {type(exc).__name__}: {exc}\n"
                f"  request: {case.method} {case.formatted_path} query={case.query} "
                f"body={str(case.body)[:300]}\n"
                f"  response: {response.status_code} {response.text[:300]}"
            )
            raise

    tally.pairs += 1
    try:
        run()
    except (Exception, BaseExceptionGroup):
        pass  # recorded above


def test_the_api_conforms_to_its_committed_openapi_document(
    live_server: str, directory: Directory, capsys: pytest.CaptureFixture[str]
) -> None:
    platform_token = create_platform_admin(NOW)
    with httpx.Client(base_url=live_server, timeout=30) as client:
        seeded = seed(Api(client, directory), platform_token)
    schema = schemathesis.openapi.from_path(SPEC_PATH)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 60, "the committed document lost operations"
    tally = Tally()
    started = time.monotonic()
    with requests.Session() as http:
        for caller in CALLERS:
            for operation in operations:
                if operation.label in PUBLIC and caller.who is not None:
                    continue
                fuzz(operation, caller, seeded, live_server, http, tally)
    elapsed = time.monotonic() - started
    reached = {c.name: tally.reached(c.name) for c in CALLERS}
    with capsys.disabled():
        print(  # noqa: T201 - the figures docs/reliability.md quotes
            f"\n[figures] schemathesis: operations={len(operations)}, callers={len(CALLERS)}, "
            f"pairs={tally.pairs}, examples={tally.examples}, seconds={elapsed:.1f}, "
            + ", ".join(f"2xx[{name}]={n}" for name, n in reached.items())
        )
    assert not tally.failures, f"{len(tally.failures)} failures:\n" + "\n".join(tally.failures)
    # The run reached the routes' work: each caller with a token got answers, not only 404s
    # (the seeded ids were used).
    for caller in CALLERS:
        if caller.who is not None:
            assert reached[caller.name] >= 20, (caller.name, dict(tally.statuses[caller.name]))
