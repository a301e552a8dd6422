"""Real service processes for tests: `cspr-engine serve` and `cspr-engine worker` on the test
database, a webhook receiver on 127.0.0.1 that checks what arrives, free ports and bounded
waits.

Every wait is bounded; tests stop (and, if need be, kill) only the processes they start, by
their PID.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx

from cspr_engine.alerts.delivery import sign

ROOT = Path(__file__).resolve().parents[1]
START_SECONDS = 30  # a process is up (banner printed, or /readyz answers) within this
SETTLE_SECONDS = 60  # workers finish a sweep or the deliveries within this
STOP_SECONDS = 15  # a process stops on SIGTERM within this

# A Standard Webhooks secret (whsec_ + base64) for the receivers' subscriptions.
SECRET = "whsec_" + "c2VjcmV0LWZvci10aGUtdGVzdC1yZWNlaXZlcg=="


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    give_up = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < give_up, f"timed out after {seconds}s waiting until {what}"
        time.sleep(0.1)


# -- processes ----------------------------------------------------------------------------


def cli_command(*args: str) -> list[str]:
    for candidate in (Path(sys.executable).parent / "cspr-engine", ROOT / ".venv/bin/cspr-engine"):
        if candidate.exists():
            return [str(candidate), *args]
    return [sys.executable, "-m", "cspr_engine.cli", *args]


def service_env(database_url: str, **settings: str) -> dict[str, str]:
    """The environment of a service process: this one's, without any CSPR_ setting but the
    test database's and `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSPR_")}
    env.update(
        CSPR_DATABASE_URL=database_url,
        CSPR_ENVIRONMENT="test",
        PYTHONUNBUFFERED="1",
        # The receivers of these tests listen on 127.0.0.1 (an allowed network, by name).
        CSPR_WEBHOOK_ALLOWED_DESTINATIONS="127.0.0.0/8,::1/128",
    )
    env.update(settings)  # a test may choose any of them, the environment included
    return env


@dataclass
class Process:
    """A `cspr-engine` process, its output kept in two files."""

    name: str
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_for_banner(self, banner: str) -> None:
        give_up = time.monotonic() + START_SECONDS
        while banner not in self.stdout.read_text(errors="replace"):
            assert self.alive(), f"{self.name} exited:\n{self.output()}"
            assert time.monotonic() < give_up, f"{self.name} did not start:\n{self.output()}"
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM (the process's own clean stop), SIGKILL if it does not stop in time."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_SECONDS)

    def kill9(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_SECONDS)
        assert self.process.returncode == -signal.SIGKILL


@dataclass
class Worker(Process):
    def wait_ready(self) -> None:
        self.wait_for_banner("worker running")


@dataclass
class Server(Process):
    url: str = ""

    def wait_ready(self) -> float:
        """Wait until /readyz answers 200 (the database answers, the schema is current);
        returns the seconds waited."""
        started = time.monotonic()
        give_up = started + START_SECONDS
        while True:
            assert self.alive(), f"{self.name} exited:\n{self.output()}"
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            assert time.monotonic() < give_up, f"{self.name} did not start:\n{self.output()}"
            time.sleep(0.05)


def _spawn(args: list[str], env: dict[str, str], logs: Path, name: str) -> tuple[Any, Path, Path]:
    out, err = logs / f"{name}.out", logs / f"{name}.err"
    # Appended to: a process restarted under the same name keeps its earlier output.
    with out.open("ab") as stdout, err.open("ab") as stderr:
        process = subprocess.Popen(
            args,
            env=env,
            cwd=logs,  # no stray .env file is read
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
    return process, out, err


def start_worker(database_url: str, logs: Path, name: str, **settings: str) -> Worker:
    """A `cspr-engine worker` sweeping and delivering every second (not yet ready)."""
    env = service_env(database_url, **{"CSPR_SWEEP_SECONDS": "1", **settings})
    process, out, err = _spawn(cli_command("worker"), env, logs, name)
    return Worker(name, process, out, err)


def start_server(
    database_url: str, logs: Path, name: str, port: int | None = None, **settings: str
) -> Server:
    """A `cspr-engine serve` (uvicorn) on 127.0.0.1, its scheduler off (not yet ready)."""
    port = port or free_port()
    env = service_env(
        database_url, **{"CSPR_SCHEDULER_ENABLED": "false", "CSPR_LOG_LEVEL": "WARNING", **settings}
    )
    args = cli_command("serve", "--host", "127.0.0.1", "--port", str(port))
    process, out, err = _spawn(args, env, logs, name)
    return Server(name, process, out, err, url=f"http://127.0.0.1:{port}")


@contextmanager
def workers(
    database_url: str, logs: Path, names: list[str], **settings: str
) -> Iterator[list[Worker]]:
    """Start `cspr-engine worker` processes on the test database; stop them afterwards."""
    started: list[Worker] = []
    try:
        for name in names:
            started.append(start_worker(database_url, logs, name, **settings))
        yield started
    finally:
        for worker in started:
            worker.stop()


P = TypeVar("P", bound="Process")


@contextmanager
def stopped_at_exit() -> Iterator[Callable[[P], P]]:
    """Yields `keep(process)`: every process kept is stopped on the way out (a test that
    restarts a server keeps each incarnation)."""
    with ExitStack() as stack:

        def keep(process: P) -> P:
            stack.callback(process.stop)
            return process

        yield keep


def show_figures(capsys: Any, title: str, figures: dict[str, Any]) -> None:
    """Write a test's figures to the terminal (not captured), one line, to be quoted."""
    line = ", ".join(
        f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()
    )
    with capsys.disabled():
        print(f"\n[figures] {title}: {line}")  # noqa: T201


def assert_no_job_errors(worker: Process, *, sqlite: bool) -> None:
    """No job failed. On SQLite a job that waited longer than busy_timeout for the single
    write lock fails with "database is locked" and runs again a second later: tolerated there,
    as long as that is all that went wrong."""
    text = worker.output()
    assert "IntegrityError" not in text, f"{worker.name} hit a constraint:\n{text}"
    problems = text.split("Traceback")[1:]
    if sqlite:
        problems = [p for p in problems if "database is locked" not in p]
    assert not problems, f"{worker.name} reported a problem:\n{text}"
    if not sqlite:
        assert "raised an exception" not in text, f"{worker.name} reported a problem:\n{text}"


# -- a webhook receiver -------------------------------------------------------------------


@dataclass
class Received:
    webhook_id: str
    body_id: str
    type: str
    signature_ok: bool
    answered: int | None  # None: held, never answered


class WebhookReceiver:
    """A webhook receiver on 127.0.0.1 (a free port) that records the webhook-id and the body's
    id of every POST and checks its Standard Webhooks signature against SECRET. With
    `hold_first`, the first request is held open (no answer) until `release` is set."""

    def __init__(self, *, hold_first: bool = False) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.hold_first = hold_first
        self.arrived = threading.Event()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                webhook_id = self.headers.get("webhook-id") or ""
                try:
                    timestamp = int(self.headers.get("webhook-timestamp", "0"))
                except ValueError:
                    timestamp = 0
                expected = sign(SECRET, webhook_id, timestamp, body)
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = {}
                with receiver.lock:
                    hold, receiver.hold_first = receiver.hold_first, False
                    receiver.received.append(
                        Received(
                            webhook_id=webhook_id,
                            body_id=str(payload.get("id")),
                            type=str(payload.get("type")),
                            signature_ok=self.headers.get("webhook-signature") == expected,
                            answered=None if hold else 200,
                        )
                    )
                if hold:
                    receiver.arrived.set()
                    receiver.release.wait(timeout=SETTLE_SECONDS)
                    self.close_connection = True
                    return
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/cspr"

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=STOP_SECONDS)

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.received)
