"""Read latency, start-up time and resident memory of a real `cspr-engine serve`, by data size.

Usage:
    .venv/bin/python bench/latency.py [--sizes 10000,100000] [--requests 300] [--starts 3]
                                      [--postgres-url URL | --no-postgres] [--no-sqlite]
                                      [--keep DIR]

For each size and each database (a temporary SQLite file; a throwaway PostgreSQL database on
the server --postgres-url or CSPR_BENCH_POSTGRES_URL names, dropped at the end), bench/data.py
fills the database, then `cspr-engine serve` (scheduler off) is started on a free port of
127.0.0.1 and measured, one request at a time over one keep-alive connection:

  - GET /api/v1/cases/{id}, random cases, each as the chair of its partnership;
  - a filtered list, GET /api/v1/cases?state=...&agency=..., a random partnership's chair,
    first page; and a page further on (state=closed, the cursor of the fourth page);
  - the dashboard, GET /ui, with the session cookie of a sign-in (POST /api/v1/auth/sign-in);

p50, p99 and max of each (--requests each, after a few warm-up requests); start-up time, from
process start to the first 200 from /readyz (median of --starts starts); VmRSS and VmHWM of
the serve process from /proc/PID/status after the load, which ends with four sign-ins at the
same moment (each password check takes 64 MiB while it runs).

--keep DIR keeps each generated database (a SQLite file in DIR; a PostgreSQL database named
cspr_bench_keep_<size>) with what the load needs (DIR/<database>-<size>.pickle), and a later run
with the same --keep measures them again without generating: 1M cases take about 15 minutes
to generate, a few to measure, so the measurement can wait for a quiet machine. Drop them with
`DROP DATABASE cspr_bench_keep_<size>` and by removing DIR.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import pickle
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import data  # bench/data.py
import sweep  # bench/sweep.py: the throwaway databases
from sqlalchemy.engine import make_url

TARGET_P99_MS = 50.0
TARGET_START_S = 2.0
TARGET_RSS_MB = 200.0
SIMULTANEOUS_SIGN_INS = 4
STATES = ("closed", "action_monitoring", "lcspr_in_progress", "final_report")
AGENCIES = ("local_authority", "police", "health", "education")


@dataclass
class Result:
    database: str
    cases: int
    load_s: float = 0.0
    disk_mb: float = 0.0
    latency_ms: dict[str, list[float]] = field(default_factory=dict)
    starts_s: list[float] = field(default_factory=list)
    rss_mb: float = 0.0
    hwm_mb: float = 0.0


# -- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli() -> str:
    return str(Path(sys.executable).with_name("cspr-engine"))


@contextmanager
def serving(url: str, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, float]]:
    """A `cspr-engine serve` on `url`; yields it, its port and the seconds to its first 200
    from /readyz. Stopped (SIGTERM, then SIGKILL) on the way out."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        CSPR_DATABASE_URL=url,
        CSPR_SCHEDULER_ENABLED="false",
        CSPR_LOG_LEVEL="WARNING",
    )
    env.pop("CSPR_SMTP_HOST", None)
    started = time.perf_counter()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [cli(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        ready = wait_ready(port, process, started, timeout=60)
        yield process, port, ready
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def wait_ready(
    port: int, process: subprocess.Popen[bytes], started: float, timeout: float
) -> float:
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"cspr-engine serve exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"cspr-engine serve not ready after {timeout:.0f} s")


def memory_mb(pid: int) -> tuple[float, float]:
    """VmRSS and VmHWM of `pid`, in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


# -- the load -----------------------------------------------------------------------------------


class Client:
    """One keep-alive connection; each request timed from send to the last byte read."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get(self, path: str, headers: dict[str, str]) -> tuple[float, int, bytes]:
        started = time.perf_counter()
        self.conn.request("GET", path, headers=headers)
        response = self.conn.getresponse()
        body = response.read()
        return (time.perf_counter() - started) * 1000, response.status, body

    def post(self, path: str, body: dict[str, str]) -> tuple[int, str | None]:
        self.conn.request(
            "POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        response = self.conn.getresponse()
        response.read()
        return response.status, response.getheader("set-cookie")


def timed_series(
    client: Client, requests: list[tuple[str, dict[str, str]]], warmup: int = 5
) -> list[float]:
    times = []
    for i, (path, headers) in enumerate(requests):
        ms, status, body = client.get(path, headers)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:300]!r}")
        if i >= warmup:
            times.append(ms)
    return times


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def load(port: int, made: data.Generated, n: int, rnd: random.Random) -> dict[str, list[float]]:
    client = Client(port)
    tokens = {p.id: p.chair_token for p in made.partnerships}
    out: dict[str, list[float]] = {}

    picks = [rnd.randrange(len(made.case_ids)) for _ in range(n + 5)]
    out["GET case"] = timed_series(
        client,
        [
            (f"/api/v1/cases/{made.case_ids[i]}", bearer(tokens[made.case_partnerships[i]]))
            for i in picks
        ],
    )

    def listing(place: data.Place, **query: str) -> tuple[str, dict[str, str]]:
        return f"/api/v1/cases?{urlencode(query)}", bearer(place.chair_token)

    places = made.partnerships
    out["filtered list, page 1"] = timed_series(
        client,
        [
            listing(rnd.choice(places), state=rnd.choice(STATES), agency=rnd.choice(AGENCIES))
            for _ in range(n + 5)
        ],
    )
    # Cursors of the fourth page of closed cases, for a handful of partnerships.
    further = []
    for place in rnd.sample(places, min(20, len(places))):
        cursor = None
        for _ in range(3):
            query = {"state": "closed", **({"cursor": cursor} if cursor else {})}
            path, headers = listing(place, **query)
            _, status, body = client.get(path, headers)
            assert status == 200, body[:300]
            cursor = json.loads(body)["next_cursor"]
            if cursor is None:
                break
        if cursor is not None:
            further.append(listing(place, state="closed", cursor=cursor))
    if further:
        out["filtered list, page 4"] = timed_series(
            client, [further[i % len(further)] for i in range(n + 5)]
        )

    status, cookie = client.post(
        "/api/v1/auth/sign-in", {"email": made.chair_email, "password": made.password}
    )
    if status != 200 or cookie is None:
        raise RuntimeError(f"sign-in failed: {status}")
    session_cookie = cookie.split(";", 1)[0]
    out["dashboard GET /ui"] = timed_series(
        client, [("/ui", {"Cookie": session_cookie}) for _ in range(min(n, 200) + 5)]
    )
    client.conn.close()
    # People signing in at the same moment: each password check needs 64 MiB (argon2), the
    # peak the memory target is about.
    sign_in_together(port, made, SIMULTANEOUS_SIGN_INS)
    return out


def sign_in_together(port: int, made: data.Generated, count: int) -> None:
    def one(_: int) -> int:
        client = Client(port)
        try:
            status, _cookie = client.post(
                "/api/v1/auth/sign-in", {"email": made.chair_email, "password": made.password}
            )
            return status
        finally:
            client.conn.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        statuses = list(pool.map(one, range(count)))
    if any(status != 200 for status in statuses):
        raise RuntimeError(f"simultaneous sign-ins: {statuses}")


# -- one database -------------------------------------------------------------------------------


def measure(
    name: str,
    url: str,
    cases: int,
    args: argparse.Namespace,
    log: Path,
    saved: Path | None = None,
) -> Result:
    result = Result(name, cases)
    engine = sweep.use_database(url)
    if saved is not None and saved.exists():
        print(f"{name}, {cases:,} cases: kept from an earlier run ({saved})", flush=True)
        made = pickle.loads(saved.read_bytes())
    else:
        print(f"{name}, {cases:,} cases: generating ...", flush=True)
        made = data.generate(engine, cases)
        if saved is not None:
            saved.write_bytes(pickle.dumps(made))
    result.load_s = made.seconds
    result.disk_mb = data.database_size(engine) / 2**20
    sweep.release_database()
    print(
        f"  {made.seconds:.0f} s, {result.disk_mb:,.0f} MiB; starting the service ...", flush=True
    )
    for _ in range(args.starts - 1):
        with serving(url, log) as (_, _, ready):
            result.starts_s.append(ready)
    with serving(url, log) as (process, port, ready):
        result.starts_s.append(ready)
        result.latency_ms = load(port, made, args.requests, random.Random(cases))
        result.rss_mb, result.hwm_mb = memory_mb(process.pid)
    return result


def run_all(args: argparse.Namespace) -> list[Result]:
    results = []
    log = Path(tempfile.gettempdir()) / f"cspr-bench-latency-{os.getpid()}.log"
    keep: Path | None = args.keep
    for size in args.sizes:
        if not args.no_sqlite:
            if keep is not None:
                saved = keep / f"sqlite-{size}.pickle"
                url = f"sqlite:///{keep.resolve()}/sqlite-{size}.db"
                results.append(measure("SQLite", url, size, args, log, saved))
            else:
                with tempfile.TemporaryDirectory(prefix="cspr-bench-") as tmp:
                    url = f"sqlite:///{tmp}/bench.db"
                    results.append(measure("SQLite", url, size, args, log))
        if not args.no_postgres:
            if keep is not None:
                saved = keep / f"postgresql-{size}.pickle"
                url = sweep.kept_postgres_database(args.postgres_url, f"cspr_bench_keep_{size}")
                if not saved.exists():
                    # A database left by a run that stopped before saving is refilled.
                    url = sweep.kept_postgres_database(
                        args.postgres_url, f"cspr_bench_keep_{size}", recreate=True
                    )
                results.append(measure("PostgreSQL", url, size, args, log, saved))
            else:
                with sweep.postgres_database(args.postgres_url) as url:
                    results.append(measure("PostgreSQL", url, size, args, log))
    print(f"(server output: {log})")
    return results


# -- report -------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(results: list[Result]) -> bool:
    met = True
    print()
    print(f"{'database':<11}{'cases':>10}  {'request':<24}{'n':>5}{'p50':>9}{'p99':>9}{'max':>9}")
    for r in results:
        for what, times in r.latency_ms.items():
            p99 = percentile(times, 0.99)
            flag = ""
            if what != "dashboard GET /ui" and p99 > TARGET_P99_MS:
                flag = "  > 50 ms"
                met = met and not (r.database == "PostgreSQL" and r.cases >= 1_000_000)
            print(
                f"{r.database:<11}{r.cases:>10,}  {what:<24}{len(times):>5}"
                f"{statistics.median(times):>7.1f}ms{p99:>7.1f}ms{max(times):>7.1f}ms{flag}"
            )
    print()
    print(
        f"{'database':<11}{'cases':>10}{'load':>9}{'disk':>10}"
        f"{'start-up (median)':>19}{'VmRSS':>10}{'VmHWM':>10}"
    )
    for r in results:
        start = statistics.median(r.starts_s)
        met = met and start <= TARGET_START_S and r.hwm_mb <= TARGET_RSS_MB
        print(
            f"{r.database:<11}{r.cases:>10,}{r.load_s:>7.0f} s{r.disk_mb:>6,.0f} MiB"
            f"{start:>17.2f} s{r.rss_mb:>7.0f} MB{r.hwm_mb:>7.0f} MB"
        )
    print(
        f"\nTargets: p99 of GET case and filtered lists <= {TARGET_P99_MS:.0f} ms at 1M cases on "
        f"PostgreSQL; start-up <= {TARGET_START_S:.0f} s; memory <= {TARGET_RSS_MB:.0f} MB."
    )
    print(f"Machine load when done: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs.")
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[10_000, 100_000],
        help="comma-separated case counts (default 10000,100000; add 1000000 for the target)",
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CSPR_BENCH_POSTGRES_URL", sweep.DEFAULT_POSTGRES),
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep the generated databases in DIR and reuse them on later runs",
    )
    args = parser.parse_args(argv)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    if not args.no_postgres and (why := sweep.postgres_reachable(args.postgres_url)) is not None:
        shown = make_url(args.postgres_url).render_as_string(hide_password=True)
        print(f"PostgreSQL: skipped, {shown} is not reachable ({why})")
        args.no_postgres = True
    return 0 if report(run_all(args)) else 1


if __name__ == "__main__":
    sys.exit(main())
