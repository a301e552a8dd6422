"""Bounds on the connections of a real `cspr-engine serve` (kit.connections), over raw sockets
on 127.0.0.1: an oversized head is 431 and leaves no memory behind, a slow or silent client is
dropped after the timeout, a stalled body is abandoned, a connection carries a bounded number
of requests, and nothing says what server this is. Ordinary requests, large bodies included,
pass as before."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.factories import Directory
from tests.processes import Server, show_figures, start_server, stopped_at_exit

pytestmark = pytest.mark.heavy

LIMITS = {
    "CSPR_MAX_HEADER_BYTES": "16384",
    "CSPR_HEADER_TIMEOUT_SECONDS": "2",
    "CSPR_BODY_IDLE_TIMEOUT_SECONDS": "2",
    "CSPR_MAX_REQUESTS_PER_CONNECTION": "3",
}


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    with stopped_at_exit() as keep:
        started = keep(start_server(database_url, tmp_path, "bounded", **LIMITS))
        started.wait_ready()
        yield started


def connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def read_all(sock: socket.socket, seconds: float = 10) -> bytes:
    """Everything the server sends until it closes the connection (bounded in time)."""
    sock.settimeout(seconds)
    chunks = []
    give_up = time.monotonic() + seconds
    while time.monotonic() < give_up:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def send_quietly(sock: socket.socket, data: bytes) -> None:
    """Send what the server will take: it may close the connection part way through."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def test_an_oversized_head_is_431_and_its_memory_is_given_back(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    before = rss_kib(server.pid)
    answers = []
    for _ in range(3):  # one 1 MB header at a time
        with connect(server) as sock:
            send_quietly(sock, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_048_576)
            answers.append(read_all(sock))
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer[:200]
        assert b"connection: close" in answer
    # Fifty connections that each send 4 MB of header in slices, all open at once.
    socks = [connect(server) for _ in range(50)]
    try:
        for _ in range(16):
            for sock in socks:
                send_quietly(sock, b"GET / HTTP/1.1\r\nX-Big: " + b"b" * 262_144)
        refused = sum(read_all(s, 5).startswith(b"HTTP/1.1 431") for s in socks)
    finally:
        for sock in socks:
            sock.close()
    time.sleep(0.5)
    after = rss_kib(server.pid)
    show_figures(
        capsys, "oversized heads", {"rss_before_mib": before / 1024, "rss_after_mib": after / 1024}
    )
    assert refused == 50
    # Each was refused after one read past 16 KiB, not held: the process stays near its size.
    assert after - before < 40 * 1024, (before, after)
    assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200


def test_a_head_just_under_the_bound_is_served(server: Server) -> None:
    response = httpx.get(f"{server.url}/healthz", headers={"X-Pad": "p" * 15_000}, timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_a_slow_head_is_408_and_a_silent_connection_is_closed(server: Server) -> None:
    with connect(server) as slow, connect(server) as silent:
        started = time.monotonic()
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        answer = read_all(slow, 8)
        slow_after = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
        assert 1.5 < slow_after < 6
        assert read_all(silent, 8) == b""  # closed without a word
        assert time.monotonic() - started < 8


def test_a_stalled_body_is_abandoned(server: Server, directory: Directory) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        sock.sendall(
            b"POST /api/v1/cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + directory.token("chair").encode() + b"\r\n"
            b'Content-Length: 5000\r\n\r\n{"became_aware_on": '
        )
        answer = read_all(sock, 10)
        assert time.monotonic() - started < 8
    # No case was opened from half a body.
    listed = httpx.get(
        f"{server.url}/api/v1/cases",
        headers={"Authorization": f"Bearer {directory.token('chair')}"},
        timeout=5,
    )
    assert listed.json()["items"] == []
    assert not answer.startswith(b"HTTP/1.1 2")


def test_a_connection_carries_a_bounded_number_of_requests(server: Server) -> None:
    with connect(server) as sock:
        buffer = b""
        for n in range(1, 4):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            while b"\r\n\r\n" not in buffer:
                chunk = sock.recv(4096)
                assert chunk, f"closed before response {n}"
                buffer += chunk
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            lowered = head.lower()
            length = int(lowered.split(b"content-length: ")[1].split(b"\r\n")[0])
            while len(buffer) < length:
                buffer += sock.recv(4096)
            body, buffer = buffer[:length], buffer[length:]
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert body == b'{"status":"ok"}'
            assert b"\r\nserver:" not in lowered  # nothing says what runs here
            assert (b"connection: close" in lowered) == (n == 3)
        assert read_all(sock, 5) == b""  # and then it is closed


def test_a_large_body_still_arrives(server: Server, directory: Directory) -> None:
    """A request whose first read holds its head and much of its body is not mistaken for an
    oversized head."""
    body = b'{"became_aware_on": "2026-06-10", "padding": "' + b"x" * 200_000 + b'"}'
    response = httpx.post(
        f"{server.url}/api/v1/cases",
        content=body,
        headers={
            "Authorization": f"Bearer {directory.token('chair')}",
            "Content-Type": "application/json",
        },
        timeout=10,
    )
    # Read whole and judged by the service (an unknown field), not cut off by the protocol.
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "padding" in response.text
