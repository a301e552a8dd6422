"""CSPR_FORWARDED_ALLOW_IPS: `cspr-engine serve` believes X-Forwarded-For and
X-Forwarded-Proto from the addresses it names alone, and from nobody when it is unset (not
uvicorn's default, which believes every process on the host). Real `serve` processes on
127.0.0.1, asked from 127.0.0.1 and from 127.0.0.2 (the address deploy/nginx connects from),
on either database; the client address shows in uvicorn's access log, the scheme in the
absolute URL of a redirect."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from cspr_engine.config import Settings
from tests.deployment.topology import access_lines
from tests.processes import Server, start_server, stopped_at_exit, wait_until

PROXY = "127.0.0.2"
FORGED = "203.0.113.7"
HEADERS = {"X-Forwarded-For": FORGED, "X-Forwarded-Proto": "https"}


def test_the_setting_is_a_list_of_addresses_and_networks() -> None:
    assert Settings(_env_file=None).forwarded_allow_ips == ""
    chosen = Settings(_env_file=None, forwarded_allow_ips=" 127.0.0.2 , 10.0.0.0/8,")
    assert chosen.forwarded_allow_ips == "127.0.0.2,10.0.0.0/8"
    with pytest.raises(ValidationError, match="forwarded_allow_ips"):
        Settings(_env_file=None, forwarded_allow_ips="127.0.0.2,nginx.local")


def _ask(server: Server, source: str, path: str) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=10) as client:
        return client.get(f"{server.url}{path}", headers=HEADERS)


def _client_of(server: Server, path: str) -> str:
    """The client address of the access line of `path` (as uvicorn writes it: host:port)."""
    found: list[str] = []

    def logged() -> bool:
        found[:] = [line for line in access_lines(server) if f'"GET {path} ' in line]
        return bool(found)

    wait_until(logged, 10, f"the access line of {path}")
    (line,) = found
    return line.split(" ", 1)[0].rsplit(":", 1)[0]


@pytest.mark.heavy
def test_forwarded_headers_are_believed_from_the_named_proxy_alone(
    database_url: str, tmp_path: Path
) -> None:
    # uvicorn's access lines (at INFO), as JSON.
    logged = {"CSPR_LOG_LEVEL": "INFO", "CSPR_LOG_FORMAT": "json"}
    with stopped_at_exit() as keep:
        trusting = keep(
            start_server(
                database_url, tmp_path, "trusting", None, CSPR_FORWARDED_ALLOW_IPS=PROXY, **logged
            )
        )
        default = keep(start_server(database_url, tmp_path, "default", None, **logged))
        for server in (trusting, default):
            server.wait_ready()
        probe = secrets.token_hex(4)

        # From the named proxy: the client it names, and https.
        assert _ask(trusting, PROXY, f"/probe-{probe}-a").status_code == 404
        assert _client_of(trusting, f"/probe-{probe}-a") == FORGED
        redirect = _ask(trusting, PROXY, "/ui/")
        assert redirect.headers["location"] == f"{trusting.url.replace('http:', 'https:')}/ui"

        # From anyone else on the host: the connection's own address and scheme.
        assert _ask(trusting, "127.0.0.1", f"/probe-{probe}-b").status_code == 404
        assert _client_of(trusting, f"/probe-{probe}-b") == "127.0.0.1"
        assert _ask(trusting, "127.0.0.1", "/ui/").headers["location"] == f"{trusting.url}/ui"

        # Unset: believed from nobody, the proxy's address and 127.0.0.1 included.
        for source, name in ((PROXY, "c"), ("127.0.0.1", "d")):
            assert _ask(default, source, f"/probe-{probe}-{name}").status_code == 404
            assert _client_of(default, f"/probe-{probe}-{name}") == source
            assert _ask(default, source, "/ui/").headers["location"] == f"{default.url}/ui"
