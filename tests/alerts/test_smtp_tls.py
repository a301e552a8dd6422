"""Alert e-mail over TLS to a real SMTP server (aiosmtpd) on 127.0.0.1: STARTTLS and TLS from
the first byte (port 465 style) both verify the server's certificate and name, so a server
whose certificate is not trusted, or is for another name, receives nothing: no sign-in, no
alert. A private CA given by CSPR_SMTP_CA_FILE is trusted."""

from __future__ import annotations

import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from cspr_engine.alerts.delivery import Outcome, Sender
from cspr_engine.alerts.models import Delivery, OutboxEvent
from cspr_engine.config import Settings
from tests.processes import free_port

USER, PASSWORD = "alerts", "smtp-password-for-the-test"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@dataclass
class Certificates:
    ca: Path  # the private CA the service is told to trust
    server: tuple[Path, Path]  # for 127.0.0.1, signed by that CA
    wrong_name: tuple[Path, Path]  # signed by that CA, but for mail.example.org only
    impostor: tuple[Path, Path]  # self-signed, for 127.0.0.1


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    d = tmp_path_factory.mktemp("smtp-tls")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=Test partnership CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)  # fmt: skip

    def signed(name: str, san: str) -> tuple[Path, Path]:
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)  # fmt: skip
        (d / f"{name}.ext").write_text(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext",
                "-out", f"{name}.pem", cwd=d)  # fmt: skip
        return d / f"{name}.pem", d / f"{name}.key"

    server = signed("server", "IP:127.0.0.1,DNS:localhost")
    wrong_name = signed("wrong", "DNS:mail.example.org")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", "impostor.key", "-out", "impostor.pem", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", cwd=d)  # fmt: skip
    return Certificates(d / "ca.pem", server, wrong_name, (d / "impostor.pem", d / "impostor.key"))


@dataclass
class Mailbox:
    """What the server was given: every sign-in and every message."""

    logins: list[str] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(envelope.content)
        return "250 accepted"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        with self.lock:
            self.logins.append(data.login.decode())
        ok = data.login.decode() == USER and data.password.decode() == PASSWORD
        return AuthResult(success=ok)


def server_context(pair: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(pair[0]), str(pair[1]))
    return context


@pytest.fixture
def smtp_server(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Start an SMTP server with `start(mode, pair)`; every one started is stopped after."""
    started: list[Controller] = []

    def start(mode: str, pair: tuple[Path, Path]) -> tuple[int, Mailbox]:
        mailbox, port = Mailbox(), free_port()
        common: dict[str, Any] = {
            "hostname": "127.0.0.1",
            "port": port,
            "ready_timeout": 10,
            "authenticator": mailbox.authenticate,
            "auth_require_tls": True,
        }
        if mode == "starttls":
            controller = Controller(
                mailbox, tls_context=server_context(pair), require_starttls=True, **common
            )
        else:
            # TLS from the first byte: aiosmtpd cannot tell that its session is encrypted, so
            # it would hide AUTH if it were told to require TLS for it.
            common["auth_require_tls"] = False
            controller = Controller(mailbox, server_hostname="127.0.0.1",
                                    ssl_context=server_context(pair), **common)  # fmt: skip
        try:
            controller.start()
        except Exception:  # aiosmtpd's own readiness probe may refuse our strict server
            controller.stop(no_assert=True)
            raise
        started.append(controller)
        return port, mailbox

    yield start
    for controller in started:
        controller.stop()


def send(settings: Settings) -> Outcome:
    event = OutboxEvent(
        dedupe_key=uuid.uuid4().hex,
        type="deadline.breached",
        case_id=uuid.uuid4(),
        partnership_id=uuid.uuid4(),
        payload={
            "id": str(uuid.uuid4()),
            "type": "deadline.breached",
            "case_reference": "TW-2026-0001",
            "data": {"label": "Notify the Panel", "due_on": "2026-06-16"},
        },
    )
    delivery = Delivery(event_id=event.id, channel="email", target="dsp@tw.example.org")
    sender = Sender(settings)
    try:
        return sender.send(delivery, event)
    finally:
        sender.close()


def settings_for(port: int, mode: str, ca: Path | None) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security=mode,
        smtp_ca_file=ca,
        smtp_username=USER,
        smtp_password=PASSWORD,
        smtp_from="alerts@tw.example.org",
        webhook_timeout_seconds=5,
    )


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_a_server_with_a_certificate_from_the_trusted_ca_gets_the_alert(
    certificates: Certificates, smtp_server: Any, mode: str
) -> None:
    port, mailbox = smtp_server(mode, certificates.server)
    outcome = send(settings_for(port, mode, certificates.ca))
    assert outcome == Outcome(True, status_code=250), outcome.error
    assert mailbox.logins == [USER]
    [message] = mailbox.messages
    assert b"Subject: TW-2026-0001: Notify the Panel has been missed" in message


@pytest.mark.parametrize("mode", ["starttls", "tls"])
@pytest.mark.parametrize("which", ["impostor", "wrong_name", "untrusted_ca"])
def test_a_server_whose_certificate_is_not_trusted_receives_nothing(
    certificates: Certificates, smtp_server: Any, mode: str, which: str
) -> None:
    pair = certificates.impostor if which == "impostor" else certificates.wrong_name
    if which == "untrusted_ca":
        # The right certificate, but the service was not told to trust the private CA.
        pair = certificates.server
    port, mailbox = smtp_server(mode, pair)
    ca = None if which == "untrusted_ca" else certificates.ca
    outcome = send(settings_for(port, mode, ca))
    assert not outcome.succeeded
    assert outcome.error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in outcome.error or "certificate" in outcome.error.lower()
    # Nothing reached it: not the sign-in, not the alert.
    assert mailbox.logins == []
    assert mailbox.messages == []


def test_the_earlier_starttls_switch_still_means_starttls() -> None:
    chosen = Settings(_env_file=None, smtp_starttls=True)  # type: ignore[call-arg]
    assert chosen.smtp_mode == "starttls"
    assert Settings(_env_file=None).smtp_mode == "none"  # type: ignore[call-arg]
    explicit = Settings(_env_file=None, smtp_starttls=True, smtp_security="tls")  # type: ignore[call-arg]
    assert explicit.smtp_mode == "tls"
