"""How long `cspr-engine serve` takes to start, and where the time goes.

Usage:
    make bench-startup
    .venv/bin/python bench/startup.py [--starts 5] [--probes 3] [--timeout 60] [--imports]

A temporary SQLite file is migrated (bench/sweep.py's use_database), then `cspr-engine serve`
is started --starts times, one after the other, each on a free port of 127.0.0.1 with
CSPR_DATABASE_URL naming that file, CSPR_SCHEDULER_ENABLED=false and CSPR_ENVIRONMENT=test.
Start-up time runs from launching the process to its first 200 from GET /readyz (polled every
20 ms, for at most --timeout seconds); each process is stopped (SIGTERM, then SIGKILL) before
the next starts. Printed: each start, their median and max against the target (2 s, met when
the median is within it), and the load average before and after, since this machine is shared.

Then, in --probes fresh interpreters each, the parts of a start: how long `import
cspr_engine.main` takes and how long create_app() takes after it (medians). With --imports,
the 15 modules with the largest cumulative import time under `python -X importtime`.

The processes inherit this environment: with PYTHONDONTWRITEBYTECODE set, modules that have
no cached bytecode yet (a fresh checkout's own) are compiled from source at every start, which
the figures then include; the output says so.

The exit status is 0 when the target is met, 1 when it is missed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep import release_database, use_database

TARGET_START_S = 2.0
POLL_S = 0.02

# Run in a fresh interpreter: the cost of the import and of create_app(), apart.
PROBE = """\
import json, time
t0 = time.perf_counter()
from cspr_engine.main import create_app
t1 = time.perf_counter()
create_app()
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "create_app_s": t2 - t1}))
"""


@dataclass
class Probe:
    import_s: float
    create_app_s: float


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CSPR_DATABASE_URL=url,
        CSPR_SCHEDULER_ENABLED="false",
        CSPR_ENVIRONMENT="test",
    )
    # Nothing at start-up that this measurement does not mean to include.
    for name in ("CSPR_SMTP_HOST", "CSPR_BOOTSTRAP_ADMIN_TOKEN"):
        env.pop(name, None)
    return env


def ready_status(port: int) -> int | None:
    """The status of one GET /readyz, or None while nothing answers on the port."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def one_start(env: dict[str, str], log: Path, timeout: float) -> float:
    """Seconds from launching `cspr-engine serve` to its first 200 from /readyz."""
    port = free_port()
    command = [
        str(Path(sys.executable).with_name("cspr-engine")),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with log.open("ab") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"cspr-engine serve exited with {process.returncode}")
            if ready_status(port) == 200:
                return time.perf_counter() - started
            time.sleep(POLL_S)
        raise RuntimeError(f"cspr-engine serve not ready after {timeout:.0f} s")
    finally:
        # Only the process this function started, by its own handle.
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def probe(env: dict[str, str]) -> Probe:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return Probe(import_s=figures["import_s"], create_app_s=figures["create_app_s"])


def slowest_imports(env: dict[str, str], n: int = 15) -> list[tuple[float, float, str]]:
    """(cumulative s, self s, module) of the n slowest imports under `cspr_engine.main`."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import cspr_engine.main"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        own, cumulative, module = line.removeprefix("import time:").split("|", 2)
        if not own.strip().isdigit():
            continue  # the header line
        rows.append((int(cumulative) / 1e6, int(own) / 1e6, module.rstrip()))
    return sorted(rows, reverse=True)[:n]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5, help="serve starts to time")
    parser.add_argument("--probes", type=int, default=3, help="fresh interpreters for the parts")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait per start")
    parser.add_argument("--imports", action="store_true", help="the 15 slowest imports too")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="cspr-startup-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'startup.db'}"
        use_database(url)
        release_database()
        env = serve_env(url)
        log = Path(tmp) / "serve.log"
        load_before = load_average()
        print(f"load average (1, 5, 15 min): {load_before}  ({os.cpu_count()} CPUs)")
        starts: list[float] = []
        for i in range(args.starts):
            try:
                starts.append(one_start(env, log, args.timeout))
            except RuntimeError as exc:
                print(f"start {i + 1}: {exc}; its output:", file=sys.stderr)
                print(log.read_text(errors="replace")[-4000:], file=sys.stderr)
                return 1
            print(f"start {i + 1}: {starts[-1]:.3f} s to the first 200 from /readyz")
        probes = [probe(env) for _ in range(args.probes)]
        slowest = slowest_imports(env) if args.imports else []
        load_after = load_average()

    median = statistics.median(starts)
    met = median <= TARGET_START_S
    print()
    print(f"start-up median {median:.3f} s, max {max(starts):.3f} s over {len(starts)} starts")
    verdict = "met" if met else "missed"
    print(f"target start-up <= {TARGET_START_S:.0f} s (median): {verdict}", end="")
    print(f"; the max is {'within' if max(starts) <= TARGET_START_S else 'over'} it")
    if probes:
        imports = statistics.median(p.import_s for p in probes)
        building = statistics.median(p.create_app_s for p in probes)
        print(
            f"in a fresh interpreter (median of {len(probes)}): import cspr_engine.main "
            f"{imports:.3f} s, create_app() {building:.3f} s"
        )
    print(f"load average before {load_before}, after {load_after}")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("PYTHONDONTWRITEBYTECODE is set: modules without cached bytecode compiled each start")
    if slowest:
        print()
        print("slowest imports under cspr_engine.main (cumulative, self):")
        for cumulative, own, module in slowest:
            print(f"  {cumulative:7.3f} s {own:7.3f} s  {module.strip()}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
