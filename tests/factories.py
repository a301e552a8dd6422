"""`create_*` helpers and a small API client that signs requests as a chosen role."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from cspr_engine.accounts import service as accounts_service
from cspr_engine.accounts.models import ApiToken, Partnership, User
from cspr_engine.db import get_engine, get_session

# (key, roles, agency): one user each in every test partnership.
PEOPLE: list[tuple[str, list[str], str | None]] = [
    ("chair", ["panel_chair"], None),
    ("business", ["business_unit"], None),
    ("dsp_la", ["dsp"], "local_authority"),
    ("dsp_police", ["dsp"], "police"),
    ("dsp_health", ["dsp"], "health"),
    ("lsp_la", ["lsp"], "local_authority"),
    ("referrer", ["referrer"], "police"),
    ("referrer_education", ["referrer"], "education"),
    ("scrutineer", ["scrutineer"], None),
    ("qpd", ["qpd"], None),
    ("admin", ["admin"], None),
    # Holds every case role: fires any trigger, so tests of state rules are not role tests.
    ("superuser", ["panel_chair", "business_unit", "dsp", "referrer"], "local_authority"),
]


@dataclass
class Directory:
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)  # partnership -> key -> token
    user_ids: dict[str, dict[str, str]] = field(default_factory=dict)

    def token(self, who: str, partnership: str = "TW") -> str:
        return self.tokens[partnership][who]


_ISSUED: list[str] = []


def issued_tokens() -> list[str]:
    """Every API token the fixtures issued in this run (the log check looks for them)."""
    return list(_ISSUED)


def remember_secret(secret: str) -> str:
    """Issue #7: a secret a test was given (a calendar feed's): the log check looks for it too."""
    _ISSUED.append(secret)
    return secret


def create_partnership(session: Session, code: str, now: datetime) -> Partnership:
    return accounts_service.create_partnership(
        session=session, code=code, name=f"{code} Safeguarding Children Partnership", now=now
    )


def make_directory(now: datetime) -> Directory:
    """The rows `accounts.service.create_user` and `create_token` would write, written in two
    flushes: every test starts with this directory, so it must be cheap."""
    directory = Directory()
    with Session(get_engine()) as session:
        users: list[User] = []
        tokens: list[ApiToken] = []
        for code in ("TW", "OT"):
            partnership = create_partnership(session, code, now)
            directory.tokens[code] = {}
            directory.user_ids[code] = {}
            for key, roles, agency in PEOPLE:
                user = User(
                    email=f"{key}@{code.lower()}.example",
                    display_name=key,
                    partnership_id=partnership.id,
                    roles=sorted(set(roles)),
                    agency=agency,
                    created_at=now,
                )
                secret = accounts_service.new_token_secret()
                token = ApiToken(
                    user_id=user.id,
                    name="tests",
                    token_hash=accounts_service.hash_token(secret),
                    created_at=now,
                )
                users.append(user)
                tokens.append(token)
                directory.tokens[code][key] = secret
                _ISSUED.append(secret)
                directory.user_ids[code][key] = str(user.id)
        session.add_all(users)
        session.flush()  # the tokens' users first (no ORM relationship orders them)
        session.add_all(tokens)
        session.commit()
    return directory


def referral(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "became_aware_on": "2026-06-10",
        "referring_agency": "police",
        "partner_reference": "POL-2026-118",
        "incident": {
            "occurred_on": "2026-06-08",
            "outcome": "serious_harm",
            "abuse_or_neglect": "suspected",
            "categories": ["physical_abuse"],
        },
        "child": {"age_years": 2, "sex": "female", "legal_status": "cp_plan"},
        "summary": "Infant admitted with unexplained fractures.",
    }
    body.update(overrides)
    return body


class Api:
    """Calls the API as a named person of a partnership."""

    def __init__(self, client: TestClient | httpx.Client, directory: Directory) -> None:
        self.client = client
        self.directory = directory

    def headers(self, who: str, partnership: str = "TW", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.directory.token(who, partnership)}", **extra}

    def create_case(
        self, who: str = "chair", partnership: str = "TW", **overrides: Any
    ) -> dict[str, Any]:
        response = self.client.post(
            "/api/v1/cases", json=referral(**overrides), headers=self.headers(who, partnership)
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def fire(
        self,
        case_id: str,
        trigger: str,
        data: dict[str, Any] | None = None,
        who: str = "superuser",
        partnership: str = "TW",
        **headers: str,
    ) -> httpx.Response:
        return self.client.post(
            f"/api/v1/cases/{case_id}/transitions",
            json={"trigger": trigger, "data": data or {}},
            headers=self.headers(who, partnership, **headers),
        )

    def ok(
        self, case_id: str, trigger: str, data: dict[str, Any] | None = None, who: str = "superuser"
    ) -> dict[str, Any]:
        response = self.fire(case_id, trigger, data, who=who)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def vote(
        self,
        case_id: str,
        who: str,
        decision: str = "agree",
        gate: str = "dsp_joint_decision",
        **body: Any,
    ) -> httpx.Response:
        return self.client.post(
            f"/api/v1/cases/{case_id}/approvals/{gate}",
            json={"decision": decision, "rationale": f"{who} rationale", **body},
            headers=self.headers(who),
        )

    def get_case(self, case_id: str, who: str = "superuser") -> dict[str, Any]:
        response = self.client.get(f"/api/v1/cases/{case_id}", headers=self.headers(who))
        assert response.status_code == 200, response.text
        return dict(response.json())

    def events(self, case_id: str, who: str = "superuser") -> list[dict[str, Any]]:
        response = self.client.get(
            f"/api/v1/cases/{case_id}/events?limit=500", headers=self.headers(who)
        )
        assert response.status_code == 200, response.text
        return list(response.json()["items"])


def days_ago(today: date, n: int) -> str:
    return (today - timedelta(days=n)).isoformat()


def snapshot(case_id: str) -> dict[str, Any]:
    """Everything stored about a case, read straight from the database, to prove that a
    refused request changed nothing."""
    from sqlalchemy import text

    with get_engine().connect() as conn:
        case = (
            conn.execute(
                text("SELECT * FROM cases WHERE CAST(id AS TEXT) = :id OR reference = :id"),
                {
                    "id": case_id.replace("-", "")
                    if get_engine().dialect.name == "sqlite"
                    else case_id
                },
            )
            .mappings()
            .first()
        )
        assert case is not None, f"case {case_id} not in the database"
        events = (
            conn.execute(
                text("SELECT * FROM audit_events WHERE case_id = :cid ORDER BY seq"),
                {"cid": case["id"]},
            )
            .mappings()
            .all()
        )
        votes = (
            conn.execute(
                text("SELECT * FROM approval_votes WHERE case_id = :cid ORDER BY seq"),
                {"cid": case["id"]},
            )
            .mappings()
            .all()
        )
        counts = {
            table: conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
            for table in ("cases", "audit_events", "approval_votes", "idempotency_keys")
        }
    return {
        "case": dict(case),
        "events": [dict(e) for e in events],
        "votes": [dict(v) for v in votes],
        "counts": counts,
    }


def assert_problem(
    response: httpx.Response, status: int, type_: str | None = None
) -> dict[str, Any]:
    """`response` is an RFC 9457 problem with `status` (and `type_` if given); returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    for member in ("type", "title", "status", "detail", "instance"):
        assert member in body, f"problem without {member!r}: {body}"
    assert body["status"] == status, body
    assert isinstance(body["title"], str), body
    assert body["title"], body
    assert isinstance(body["detail"], str), body
    assert body["detail"], body
    assert body["instance"] == response.request.url.path, body
    if type_ is not None:
        assert body["type"] == type_, body
    assert "Traceback" not in response.text, "stack trace leaked"
    assert 'File "' not in response.text, "stack trace leaked"
    return dict(body)


def clock_tables() -> dict[str, list[dict[str, Any]]]:
    """Every row of the clock and calendar tables, straight from the database, to prove that a
    refused request moved no clock and added no holiday (`snapshot` covers the case itself)."""
    from sqlalchemy import text

    with get_engine().connect() as conn:
        return {
            table: [
                dict(row)
                for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY id")).mappings()
            ]
            for table in ("deadlines", "deadline_extensions", "calendar_additions")
        }


# -- alert delivery helpers (tests/alerts) ---------------------------------------------------


@dataclass
class Received:
    """One request a `Receiver` got: its path, headers (lower-cased names) and raw body."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


class Receiver:
    """A real webhook receiver on 127.0.0.1 (a free port), in a thread: it records every POST
    and answers each with the next of `statuses`, then with `then`. Use it as a context
    manager; leaving it stops the server."""

    def __init__(self, statuses: Iterable[int] = (), then: int = 200) -> None:
        self.received: list[Received] = []
        self._statuses = list(statuses)
        self._then = then
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver._lock:
                    receiver.received.append(
                        Received(
                            path=self.path,
                            headers={k.lower(): v for k, v in self.headers.items()},
                            body=body,
                        )
                    )
                    status = receiver._statuses.pop(0) if receiver._statuses else receiver._then
                answer = b'{"ok": true}' if status < 300 else b'{"error": "try later"}'
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/cspr"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.json() for r in self.received]


def deliver(clock: Any) -> int:
    """One run of the delivery job with the current settings (what the scheduler would do)."""
    from cspr_engine.alerts.delivery import Sender
    from cspr_engine.config import get_settings
    from cspr_engine.scheduler import jobs

    settings = get_settings()
    sender = Sender(settings)
    try:
        return jobs.deliver_alerts(clock, sender, settings)
    finally:
        sender.close()


# -- accounts helpers (tests/accounts) -------------------------------------------------------

PASSWORD = "correct horse battery staple"


def set_password(email: str, password: str = PASSWORD) -> None:
    """Give an existing user a web sign-in password (what `admin set-password` does)."""
    from cspr_engine.accounts import repository

    with Session(get_engine()) as session:
        user = repository.user_by_email(session, email)
        assert user is not None, email
        accounts_service.set_password(
            session=session, user=user, password=password, now=datetime.now(UTC)
        )
        session.commit()


def create_platform_admin(now: datetime, email: str = "root@platform.example") -> str:
    """A platform admin (no partnership) and an API token for it; returns the token."""
    with Session(get_engine()) as session:
        user = accounts_service.create_user(
            session=session,
            email=email,
            display_name="Platform admin",
            partnership=None,
            roles=["admin"],
            agency=None,
            now=now,
            is_platform_admin=True,
        )
        _, secret = accounts_service.create_token(session=session, user=user, name="tests", now=now)
        session.commit()
    return secret


def sign_in(
    client: TestClient, email: str, password: str = PASSWORD, **headers: str
) -> httpx.Response:
    return client.post(
        "/api/v1/auth/sign-in", json={"email": email, "password": password}, headers=headers
    )


# -- access helpers (tests/access) ------------------------------------------------------------


def access_events(**where: Any) -> list[dict[str, Any]]:
    """Rows of the access log, oldest first, straight from the database; `where` filters on
    columns (`request_id=...`, `actor_id=...`); ids compare as strings."""
    import uuid

    from sqlmodel import col, select

    from cspr_engine.audit.models import AccessEvent

    query = select(AccessEvent).order_by(col(AccessEvent.at), col(AccessEvent.id))
    for name, value in where.items():
        column = getattr(AccessEvent, name)
        if name.endswith("_id") and name != "request_id" and isinstance(value, str):
            value = uuid.UUID(value)
        query = query.where(col(column).is_(None) if value is None else col(column) == value)
    with Session(get_engine()) as session:
        rows = session.exec(query).all()
    return [
        {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in row.model_dump().items()}
        for row in rows
    ]


# Everything a request about a case or a subscription could change (the access log aside).
STORED_TABLES = (
    "cases",
    "audit_events",
    "approval_votes",
    "deadlines",
    "deadline_extensions",
    "outbox_events",
    "alert_recipients",
    "alert_deliveries",
    "webhook_subscriptions",
    "idempotency_keys",
    "case_reference_counters",
)


def stored() -> dict[str, list[str]]:
    """Every row of STORED_TABLES, as sorted text, to prove a refused request changed none."""
    from sqlalchemy import text

    with get_engine().connect() as conn:
        return {
            table: sorted(repr(tuple(row)) for row in conn.execute(text(f"SELECT * FROM {table}")))
            for table in STORED_TABLES
        }


@contextmanager
def uvicorn_in_thread(config: uvicorn.Config) -> Iterator[str]:
    """A real uvicorn server on 127.0.0.1 in a thread: its base URL, stopped on exit."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://{config.host}:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# -- a database whose commits fail ------------------------------------------------------------


class FailingCommit(Session):
    """A session whose commit fails as a full disk or a lost server would make it fail."""

    def commit(self) -> None:
        raise OperationalError("COMMIT", {}, OSError("disk I/O error"))


@contextmanager
def commits_failing(app: FastAPI) -> Iterator[None]:
    """While inside, every request's session fails to commit (and rolls back)."""

    def failing_session() -> Iterator[Session]:
        with FailingCommit(get_engine(), expire_on_commit=False) as session:
            try:
                yield session
            finally:
                session.rollback()

    app.dependency_overrides[get_session] = failing_session
    try:
        yield
    finally:
        del app.dependency_overrides[get_session]
