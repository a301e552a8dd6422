"""The production topology of docs/deployment.md, run for real: nginx with TLS in front of two
`cspr-engine serve` processes, one `cspr-engine worker`, PostgreSQL, an SMTP server and a
partner's webhook receiver, every process started from the shipped files (deploy/) with this
run's ports and paths, and every command of the document run as it stands there.

A partnership is then set up and used through the proxy alone, as one would be: the platform
admin makes the partnership and its administrator (the document's commands), the
administrator its people, a case system's token and a webhook; a late referral's Panel
notification clock is breached at once, and the worker's alert arrives by e-mail and webhook
with links to the public address. Then the proxy itself: HTTP is sent to HTTPS, bodies and
headers over the limits are refused before they reach a process, both processes answer, and
X-Forwarded-* is believed from the proxy alone. Finally SIGTERM stops every process cleanly.

Every wait is bounded; the test stops only the processes it starts, by their PID.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from cspr_engine.alerts.models import Delivery
from cspr_engine.config import Settings
from cspr_engine.db import build_engine, get_engine
from cspr_engine.deadlines.calendar import get_calendar
from cspr_engine.documents.upload import MULTIPART_ENVELOPE
from cspr_engine.kit.clock import london_date
from tests.conftest import FIXTURE_SECRETS
from tests.deployment import commands
from tests.deployment.topology import (
    COMMAND_SECONDS,
    Host,
    Mailbox,
    Ports,
    access_lines,
    make_certificates,
    missing_tools,
)
from tests.factories import referral
from tests.processes import (
    SECRET,
    SETTLE_SECONDS,
    Process,
    Server,
    WebhookReceiver,
    assert_no_job_errors,
    cli_command,
    free_port,
    show_figures,
    wait_until,
)

pytestmark = [pytest.mark.heavy, pytest.mark.postgres_only]

REQUEST_SECONDS = 30
PASSWORD = "a long pass phrase for the deployment test"
# A client of the proxy on another loopback address than the proxy's own (127.0.0.2) and
# the processes' (127.0.0.1), so that the address the service records tells them apart.
CLIENT_ADDRESS = "127.0.0.3"
FORGED = "203.0.113.7"  # a documentation address no request really comes from
PEOPLE = [
    # (e-mail, roles, agency): who the Panel notification clock's breach and escalation reach.
    ("chair@lscp.example.org", ["panel_chair"], None),
    ("business@lscp.example.org", ["business_unit"], None),
    ("dsp.la@lscp.example.org", ["dsp"], "local_authority"),
    ("dsp.police@lscp.example.org", ["dsp"], "police"),
    ("dsp.health@lscp.example.org", ["dsp"], "health"),
    ("lsp.la@lscp.example.org", ["lsp"], "local_authority"),
]
BREACH_REACHES = {"chair", "business", "dsp.la", "dsp.police", "dsp.health"}


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    port = free_port()
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def host_settings(
    database_url: str, ports: Ports, smtp_port: int, documents: Path
) -> dict[str, str]:
    """The example environment file with this run's values: every value changed here is in
    the file, and nothing is added but what the file leaves to the host."""
    example = commands.environment_file(commands.ENV_EXAMPLE.read_text(encoding="utf-8"))
    ours = {
        "CSPR_DATABASE_URL": database_url,
        "CSPR_PUBLIC_URL": ports.public_url,
        "CSPR_METRICS_TOKEN": secrets.token_urlsafe(24),
        "CSPR_SMTP_HOST": "127.0.0.1",
        "CSPR_SMTP_PORT": str(smtp_port),
        "CSPR_SMTP_SECURITY": "none",  # a plain SMTP server on 127.0.0.1
        "CSPR_DOCUMENTS_DIR": str(documents),
        "CSPR_SWEEP_SECONDS": "1",
    }
    assert set(ours) <= set(example), set(ours) - set(example)
    settings = {**example, **ours}
    # No sign-in to a server without TLS (the service would send none anyway).
    del settings["CSPR_SMTP_USERNAME"], settings["CSPR_SMTP_PASSWORD"]
    assert settings["CSPR_ENVIRONMENT"] == "production"
    if "webhook_allowed_destinations" in Settings.model_fields:
        # Webhooks go to public https addresses only; this run's receiver is on loopback,
        # named as a partnership's own receiver would be (the example's comment).
        assert "CSPR_WEBHOOK_ALLOWED_DESTINATIONS" in commands.ENV_EXAMPLE.read_text(
            encoding="utf-8"
        ), "not in the example"
        settings["CSPR_WEBHOOK_ALLOWED_DESTINATIONS"] = "127.0.0.1"
    return settings


def raw_post(port: int, tls: Any, path: str, length: int) -> tuple[int, str, str]:
    """A POST that declares `length` bytes and sends none: what the proxy answers from the
    headers alone (status, Server header, body)."""
    connection = http.client.HTTPSConnection(
        "127.0.0.1", port, context=tls.context(), timeout=REQUEST_SECONDS
    )
    try:
        connection.putrequest("POST", path)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(length))
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.getheader("Server", ""), response.read().decode()
    finally:
        connection.close()


def test_the_documented_topology_serves_a_partnership_through_the_proxy(
    database_url: str,
    is_postgres: bool,
    tmp_path: Path,
    smtp: tuple[Mailbox, int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    if not is_postgres:
        pytest.skip("two servers and a worker on one database: PostgreSQL's deployment")
    if (missing := missing_tools()) is not None:
        pytest.skip(missing)
    started = time.monotonic()
    mailbox, smtp_port = smtp
    ports = Ports(http=free_port(), https=free_port(), web=(free_port(), free_port()))
    host = Host(root=tmp_path / "host", ports=ports, tls=make_certificates(tmp_path / "tls"))
    settings = host_settings(database_url, ports, smtp_port, tmp_path / "host" / "documents")
    host.root.mkdir()
    # The bootstrap token as the document makes it.
    token = host.run_script("token").stdout.strip()
    assert len(token) >= 32
    settings["CSPR_BOOTSTRAP_ADMIN_TOKEN"] = token
    host.lay_out(settings)
    host.run_script("check")
    host.run_script("nginx")
    # The units, in their order: the migration (the suite's database is migrated already,
    # so it has nothing to do), then the two web processes and the worker.
    assert "migrated" in host.run_unit("cspr-engine-migrate.service").stdout
    processes: list[Process] = []
    receiver = WebhookReceiver()
    try:
        with receiver:
            for port in ports.web:
                processes.append(host.start_unit("cspr-engine-web@.service", str(port)))
            processes.append(host.start_unit("cspr-engine-worker.service"))
            processes.append(host.start_nginx())
            web = [
                Server(p.name, p.process, p.stdout, p.stderr, url=f"http://127.0.0.1:{port}")
                for p, port in zip(processes[:2], ports.web, strict=True)
            ]
            for server in web:
                server.wait_ready()
            wait_until(lambda: "worker running" in processes[2].stdout.read_text(), 30, "worker up")
            ready_at = time.monotonic() - started
            _use_through_the_proxy(host, receiver, mailbox, web)
            figures = {"ready_s": ready_at}
    finally:
        stopped: dict[str, int | None] = {}
        for process in reversed(processes):
            process.stop()
            stopped[process.name] = process.process.returncode
    # SIGTERM, and each stopped on its own, cleanly: nginx and the worker with 0, uvicorn by
    # the signal it raises again once its shutdown is complete (systemd counts both clean).
    clean = {
        p.name: (0, -signal.SIGTERM) if p.name.startswith("cspr-engine-web") else (0,)
        for p in processes
    }
    for process in processes:
        code = stopped[process.name]
        assert code in clean[process.name], f"{process.name}: {code}\n{process.output()[-3000:]}"
    for process in processes[:2]:
        assert "Application shutdown complete" in process.output(), process.name
    assert_no_job_errors(processes[2], sqlite=False)
    for process in processes:
        text = process.output()
        assert "Traceback" not in text, f"{process.name}:\n{text}"
        assert not [s for s in FIXTURE_SECRETS if s in text], f"case content in {process.name}"
    figures["total_s"] = time.monotonic() - started
    show_figures(capsys, "deployment topology", figures)


def _use_through_the_proxy(
    host: Host, receiver: WebhookReceiver, mailbox: Mailbox, web: list[Server]
) -> None:
    ports, public = host.ports, host.ports.public_url
    # Through the proxy alone, trusting only this run's CA, from a loopback address of its own.
    transport = httpx.HTTPTransport(verify=host.tls.context(), local_address=CLIENT_ADDRESS)
    client = httpx.Client(base_url=public, transport=transport, timeout=REQUEST_SECONDS)
    with client:
        # The document's first checks and set-up, word for word.
        assert host.run_script("ready").stdout.strip().startswith("{")
        host.run_script("first partnership", stdin=f"{PASSWORD}\n")
        _check_metrics(host)

        # The partnership's administrator signs in (a Secure cookie: over TLS only).
        admin = _signed_in(client, commands.PARTNERSHIP_ADMIN)
        ids = {}
        for address, roles, agency in PEOPLE:
            body = {"email": address, "display_name": address.split("@")[0], "roles": roles}
            created = client.post(
                "/api/v1/users", json={**body, "agency": agency} if agency else body, **admin
            )
            assert created.status_code == 201, created.text
            ids[address] = created.json()["id"]
        system = client.post(
            "/api/v1/users",
            json={
                "email": "cms@police.example.org",
                "display_name": "Police case system",
                "roles": ["referrer"],
                "agency": "police",
                "service_account": True,
            },
            **admin,
        )
        assert system.status_code == 201, system.text
        made = client.post(
            "/api/v1/tokens", json={"user_id": system.json()["id"], "name": "case system"}, **admin
        )
        assert made.status_code == 201, made.text
        police = {"Authorization": f"Bearer {made.json()['token']}"}
        hook = client.post(
            "/api/v1/webhooks",
            json={"url": receiver.url, "events": ["deadline.breached"], "secret": SECRET},
            **admin,
        )
        assert hook.status_code == 201, hook.text

        # The chair is given a password on the host, signs in and makes a token of their own.
        host.run_wrapper(
            "admin", "set-password", "chair@lscp.example.org", "--password-stdin",
            stdin=f"{PASSWORD}\n",
        )  # fmt: skip
        chair_session = _signed_in(client, "chair@lscp.example.org")
        chair_token = client.post(
            "/api/v1/tokens",
            json={"user_id": ids["chair@lscp.example.org"], "name": "chair's scripts"},
            **chair_session,
        )
        assert chair_token.status_code == 201, chair_token.text
        chair = {"Authorization": f"Bearer {chair_token.json()['token']}"}

        # A referral 7 working days late: the Panel should have been told within 5, so the
        # clock's breach is due (its escalation to the LSPs, 5 working days on, is not yet).
        aware = get_calendar().subtract_working_days(london_date(datetime.now(UTC)), 7)
        case = client.post(
            "/api/v1/cases",
            json=referral(
                became_aware_on=aware.isoformat(),
                incident={
                    **referral()["incident"],
                    "occurred_on": (aware - timedelta(days=1)).isoformat(),
                },
            ),
            headers=police,
        )
        assert case.status_code == 201, case.text
        case_id, reference = case.json()["id"], case.json()["reference"]

        # The worker's sweep breaches the clock; the alert goes out by e-mail and webhook.
        def breach_mails() -> list[Any]:
            return [
                m
                for m in mailbox.snapshot()
                if str(m.message["Subject"]).startswith(f"{reference}: Notify the Panel")
                and "has been missed" in str(m.message["Subject"])
            ]

        try:
            wait_until(lambda: len(breach_mails()) >= len(BREACH_REACHES), SETTLE_SECONDS, "mail")
        except AssertionError as exc:
            arrived = [(m.rcpt_tos, m.message["Subject"]) for m in mailbox.snapshot()]
            raise AssertionError(f"{exc}: {arrived}; {_deliveries()}") from exc
        reached = {to.split("@")[0] for m in breach_mails() for to in m.rcpt_tos}
        assert reached == BREACH_REACHES
        for mail in breach_mails():
            body = mail.message.get_body(("plain",))
            assert body is not None
            links = re.findall(r"https?://\S+", body.get_content())
            assert links == [f"{public}/ui/cases/{reference}"], links
        wait_until(
            lambda: any(r.type == "deadline.breached" for r in receiver.snapshot()),
            SETTLE_SECONDS,
            "the breach webhook",
        )
        delivered = [r for r in receiver.snapshot() if r.type == "deadline.breached"]
        assert delivered, receiver.snapshot()
        assert all(r.signature_ok and r.webhook_id == r.body_id for r in delivered), delivered

        deadlines = client.get(f"/api/v1/cases/{case_id}/deadlines", headers=chair)
        assert deadlines.status_code == 200, deadlines.text
        listed = deadlines.json()
        # A page ({"items": [...]}) or, before the API's lists were paged, the list itself.
        rows = listed["items"] if isinstance(listed, dict) else listed
        status = {d["key"]: d["status"] for d in rows}
        assert status["panel_notification"] == "breached", status

        # The calendar feed the service hands out is at the public address, and is served there.
        feed = client.post("/api/v1/calendar-feeds", json={"name": "Outlook"}, headers=chair)
        assert feed.status_code == 201, feed.text
        feed_url = feed.json()["url"]
        assert feed_url.startswith(f"{public}/feeds/"), feed_url
        calendar = client.get(feed_url)
        assert calendar.status_code == 200, calendar.text
        assert calendar.headers["content-type"].startswith("text/calendar")
        assert f"{reference}: Notify the Panel due (BREACHED)" in calendar.text

        _check_the_proxy(host, client, case_id, chair)
        _check_forwarded_headers(host, client, web)

        # The document's backup and upgrade commands, on the running service.
        host.run_script("backup")
        (backup,) = host.backups.iterdir()
        assert backup.stat().st_size > 0
        host.run_script("migrate")

    # Both processes answered: the proxy's log names each upstream (and no feed secret, and
    # no query string).
    log = (host.nginx / "logs" / "cspr-engine.access.log").read_text()
    upstreams = set(re.findall(r"upstream=(\S+)", log))
    for port in ports.web:
        assert f"127.0.0.1:{port}" in upstreams, upstreams
    secret = feed_url.rsplit("/", 1)[1].removesuffix(".ics")
    assert secret not in log
    assert "/feeds/- " in log


def _deliveries() -> list[tuple[str, str, str, str | None]]:
    """Each delivery the worker was given: (channel, target, status, last error)."""
    with Session(get_engine()) as session:
        return [
            (d.channel, d.target, d.status, d.last_error) for d in session.exec(select(Delivery))
        ]


def _signed_in(client: httpx.Client, address: str) -> dict[str, Any]:
    """Sign in through the proxy; the keyword arguments of a request made with the session."""
    signed = client.post("/api/v1/auth/sign-in", json={"email": address, "password": PASSWORD})
    assert signed.status_code == 200, signed.text
    cookie = signed.cookies.get("cspr_session")
    assert cookie, signed.headers
    assert "secure" in signed.headers["set-cookie"].lower()
    # Each session sent by hand: the client's jar would send the latest to everyone.
    client.cookies.clear()
    return {
        "headers": {"X-CSRF-Token": signed.json()["csrf_token"], "Cookie": f"cspr_session={cookie}"}
    }


def _check_metrics(host: Host) -> None:
    """Metrics: each process scraped on 127.0.0.1 with the token (the document's block);
    never through the proxy."""
    scraped = host.run_script("metrics").stdout.splitlines()
    assert len(scraped) == 2, scraped
    assert all(line.startswith("cspr_build_info") for line in scraped), scraped
    public = httpx.get(
        f"{host.ports.public_url}/metrics", verify=host.tls.context(), timeout=REQUEST_SECONDS
    )
    assert public.status_code == 404


def _check_the_proxy(host: Host, client: httpx.Client, case_id: str, chair: dict[str, str]) -> None:
    ports, public = host.ports, host.ports.public_url
    # HTTP on the plain port: sent to the same path at the public address.
    plain = httpx.get(f"http://127.0.0.1:{ports.http}/ui?x=1", timeout=REQUEST_SECONDS)
    assert plain.status_code == 301
    assert plain.headers["location"] == f"{public}/ui?x=1"
    # A body over CSPR_MAX_BODY_BYTES is refused by the proxy, from its length alone; one of
    # exactly that length reaches the service (which answers, as it would, for itself).
    limit = int(host.env["CSPR_MAX_BODY_BYTES"])
    status, server, page = raw_post(ports.https, host.tls, "/api/v1/cases", limit + 1)
    assert (status, server) == (413, "nginx"), page
    exact = client.post(
        "/api/v1/cases", content=b" " * limit, headers={**chair, "Content-Type": "application/json"}
    )
    assert exact.status_code == 400, exact.text  # not JSON: the service read it all
    assert exact.headers["content-type"] == "application/problem+json"
    # A document upload may be larger, up to the document limit and its multipart envelope.
    upload = f"/api/v1/cases/{case_id}/documents"
    allowed = int(host.env["CSPR_MAX_DOCUMENT_BYTES"]) + MULTIPART_ENVELOPE
    status, server, page = raw_post(ports.https, host.tls, upload, allowed + 1)
    assert (status, server) == (413, "nginx"), page
    larger = client.post(
        upload,
        content=b"-" * (limit + 1),
        headers={**chair, "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert larger.status_code != 413, larger.text
    assert larger.headers["content-type"] == "application/problem+json", larger.text
    # A header over the proxy's buffers: refused there.
    big = client.get("/healthz", headers={"X-Filler": "a" * 9000})
    assert big.status_code in (400, 431, 494), big.status_code
    assert big.headers.get("server") == "nginx"


def _check_forwarded_headers(host: Host, client: httpx.Client, web: list[Server]) -> None:
    """Through the proxy the service sees the real client and https, whatever the client
    claims; straight to a process, a forged X-Forwarded-For/-Proto is not believed."""
    forged = {"X-Forwarded-For": FORGED, "X-Forwarded-Proto": "https", "Forwarded": "for=x"}
    probe = secrets.token_hex(4)
    for _ in range(4):  # both processes get some
        assert client.get(f"/probe-{probe}-proxied", headers=forged).status_code == 404
    redirected = client.get("/ui/", headers={"X-Forwarded-Proto": "http"})
    assert redirected.status_code == 307
    assert redirected.headers["location"] == f"{host.ports.public_url}/ui"
    for server in web:
        direct = httpx.get(f"{server.url}/probe-{probe}-direct", headers=forged, timeout=10)
        assert direct.status_code == 404
        slash = httpx.get(f"{server.url}/ui/", headers=forged, timeout=10)
        assert slash.headers["location"] == f"{server.url}/ui"  # http: the forged https ignored

    def seen(server: Server, path: str) -> list[str]:
        return [line for line in access_lines(server) if f" {path} " in line]

    wait_until(lambda: all(seen(s, f"/probe-{probe}-direct") for s in web), 10, "the access lines")
    proxied = [line for s in web for line in seen(s, f"/probe-{probe}-proxied")]
    assert len(proxied) == 4, proxied
    assert all(line.startswith(f"{CLIENT_ADDRESS}:") for line in proxied), proxied
    for server in web:
        (line,) = seen(server, f"/probe-{probe}-direct")
        assert line.startswith("127.0.0.1:"), line
        assert FORGED not in "".join(access_lines(server))


def test_the_documented_role_owns_its_database_and_migrates_it_without_superuser_rights(
    database_url: str, is_postgres: bool, tmp_path: Path
) -> None:
    """The document's SQL, as the PostgreSQL superuser, under this run's names; then the
    migration unit's command, as that role, from the example settings."""
    if not is_postgres:
        pytest.skip("the role and database of a PostgreSQL deployment")
    suffix = secrets.token_hex(4)
    name = f"{commands.ROLE}_{suffix}"
    sql = commands.SQL.replace(commands.ROLE, name)
    assert sql.count(name) == 3
    server = make_url(database_url)
    admin = build_engine(server.render_as_string(hide_password=False))
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for statement in sql.split(";\n"):
                conn.execute(text(statement.strip().removesuffix(";")))
        url = server.set(username=name, password="changeme", database=name)
        example = commands.environment_file(commands.ENV_EXAMPLE.read_text(encoding="utf-8"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("CSPR_")}
        env.update(
            example,
            CSPR_DATABASE_URL=url.render_as_string(hide_password=False),
            CSPR_BOOTSTRAP_ADMIN_TOKEN=secrets.token_urlsafe(32),
        )
        argv = shlex.split(commands.EXEC_STARTS["cspr-engine-migrate.service"])
        done = subprocess.run(
            [*cli_command(), *argv[1:]],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=COMMAND_SECONDS,
        )
        assert done.returncode == 0, done.stderr
        inside = build_engine(server.set(database=name).render_as_string(hide_password=False))
        with inside.connect() as conn:
            owners = conn.execute(
                text(
                    "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
                    " AND tablename IN ('cases', 'audit_events', 'alembic_version')"
                )
            ).all()
            superuser = conn.execute(
                text("SELECT rolsuper FROM pg_roles WHERE rolname = :name"), {"name": name}
            ).scalar_one()
        inside.dispose()
        assert owners == [(name,)]
        assert superuser is False
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
        admin.dispose()
