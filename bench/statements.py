"""The SQL statements and transactions one request runs, for the requests the benchmarks time.

Usage:
    .venv/bin/python bench/statements.py [--full]

Against a throwaway SQLite file, the app runs in this process (Starlette's test client: the
whole middleware stack, no network); a partnership, a chair with an API token and a few cases
are made as bench/transition_rate.py makes them. Then, for one `notify_panel` transition
(POST /api/v1/cases/{id}/transitions) and one GET /api/v1/cases/{id}, it prints how many
statements and commits the request ran and each statement's first words (--full: whole): what
a request's cost is made of, before reaching for a profiler.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent))
import transition_rate  # bench/transition_rate.py: the world the benchmarks use
from sweep import release_database, use_database

from cspr_engine.main import create_app


def trace(client: TestClient, engine: Any, method: str, path: str, **kwargs: Any) -> list[str]:
    seen: list[str] = []

    def on_execute(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()))

    def on_commit(conn: Any) -> None:
        seen.append("COMMIT")

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    try:
        response = client.request(method, path, **kwargs)
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "commit", on_commit)
    if response.status_code >= 400:
        raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
    return seen


def show(title: str, seen: list[str], full: bool) -> None:
    statements = [s for s in seen if s != "COMMIT"]
    commits = len(seen) - len(statements)
    print(f"\n{title}: {len(statements)} statements, {commits} commits")
    for s in seen:
        print("   ", s if full else s[:110])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="print whole statements")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cspr-bench-") as tmp:
        engine = use_database(f"sqlite:///{tmp}/statements.db")
        world = transition_rate.make_world(engine, datetime.now(UTC), 3)
        headers = {"Authorization": f"Bearer {world.token}"}
        with TestClient(create_app()) as client:
            first, second = world.cases[0][0], world.cases[1][0]
            # Warm: the first request of a process loads what later ones reuse.
            trace(client, engine, "GET", f"/api/v1/cases/{second}", headers=headers)
            body = {"trigger": "notify_panel", "data": {"notified_on": world.today.isoformat()}}
            show(
                "POST /api/v1/cases/{id}/transitions (notify_panel)",
                trace(
                    client,
                    engine,
                    "POST",
                    f"/api/v1/cases/{first}/transitions",
                    json=body,
                    headers=headers,
                ),
                args.full,
            )
            show(
                "GET /api/v1/cases/{id}",
                trace(client, engine, "GET", f"/api/v1/cases/{first}", headers=headers),
                args.full,
            )
        release_database()
    return 0


if __name__ == "__main__":
    sys.exit(main())
