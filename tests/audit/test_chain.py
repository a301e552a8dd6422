"""The audit trail is a hash chain per case: an edit, a removal or a reordering made behind
the service's back is found by `cspr-engine admin verify-audit`, which names the case and the
event."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from cspr_engine import cli
from cspr_engine.audit.chain import compute_hash
from cspr_engine.audit.models import AuditEvent
from cspr_engine.db import get_engine
from tests.factories import Api

NOTIFY = {"notified_on": "2026-06-12"}
RAPID_REVIEW = {
    "completed_on": "2026-06-15",
    "recommendation": "no_lcspr",
    "rationale": "Learning already in hand.",
}


def three_event_case(api: Api) -> dict[str, Any]:
    case = api.create_case()
    api.ok(case["id"], "notify_panel", NOTIFY)
    api.ok(case["id"], "complete_rapid_review", RAPID_REVIEW)
    return case


@contextmanager
def behind_the_service() -> Iterator[Connection]:
    """Direct SQL, as someone with database access would write it (on PostgreSQL with the
    append-only trigger switched off, as only a superuser could)."""
    with get_engine().begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        yield conn


def case_key(conn: Connection, case_id: str) -> Any:
    return (
        conn.execute(
            text("SELECT id FROM cases WHERE reference = :r OR CAST(id AS TEXT) = :i"),
            {"r": case_id, "i": case_id},
        ).scalar_one_or_none()
        or conn.execute(
            text("SELECT id FROM cases WHERE CAST(id AS TEXT) = :i"),
            {"i": case_id.replace("-", "")},
        ).scalar_one()
    )


def verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["admin", "verify-audit", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_each_event_links_to_the_one_before(api: Api) -> None:
    case = three_event_case(api)
    events = api.events(case["id"])
    assert [e["seq"] for e in events] == [1, 2, 3]
    with get_engine().connect() as conn:
        rows = conn.execute(
            text("SELECT seq, prev_hash, hash FROM audit_events WHERE case_id = :c ORDER BY seq"),
            {"c": case_key(conn, case["id"])},
        ).all()
    assert rows[0].prev_hash is None
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    assert len({r.hash for r in rows}) == 3
    assert all(len(r.hash) == 64 for r in rows)


def test_an_untouched_trail_verifies(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    three_event_case(api)
    three_event_case(api)
    code, out, err = verify(capsys)
    assert (code, err) == (0, "")
    assert out.strip() == "audit chain intact: 2 case(s)"
    code, out, _ = verify(capsys, "--case", "TW-2026-0002")
    assert (code, out.strip()) == (0, "audit chain intact: 1 case(s)")


def test_an_edited_event_is_named(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    three_event_case(api)
    case = three_event_case(api)
    with behind_the_service() as conn:
        conn.execute(
            text("UPDATE audit_events SET comment = 'rewritten' WHERE case_id = :c AND seq = 2"),
            {"c": case_key(conn, case["id"])},
        )
    code, out, err = verify(capsys)
    assert (code, out) == (1, "")
    assert f"case TW-2026-0002 ({case['id']}), event 2: its content does not match its hash" in err


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    case = three_event_case(api)
    with behind_the_service() as conn:
        key = case_key(conn, case["id"])
        conn.execute(
            text("UPDATE audit_events SET kind = 'case.forged' WHERE case_id = :c AND seq = 2"),
            {"c": key},
        )
    # The forger recomputes the edited event's own hash (the function is no secret) ...
    from sqlmodel import Session, col, select

    with Session(get_engine()) as session:
        forged = session.exec(
            select(AuditEvent).where(
                col(AuditEvent.case_id) == uuid.UUID(case["id"]), col(AuditEvent.seq) == 2
            )
        ).one()
        new_hash = compute_hash(forged)
    with behind_the_service() as conn:
        conn.execute(
            text("UPDATE audit_events SET hash = :h WHERE case_id = :c AND seq = 2"),
            {"h": new_hash, "c": key},
        )
    # ... and the next event no longer links to it.
    code, _, err = verify(capsys)
    assert code == 1
    assert "event 3: does not link to the event before it" in err


def test_a_removed_event_is_named(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    case = three_event_case(api)
    with behind_the_service() as conn:
        conn.execute(
            text("DELETE FROM audit_events WHERE case_id = :c AND seq = 2"),
            {"c": case_key(conn, case["id"])},
        )
    code, _, err = verify(capsys)
    assert code == 1
    assert "event 2: event 2 is missing" in err


def test_a_removed_last_event_is_found_from_the_case_version(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    case = three_event_case(api)
    with behind_the_service() as conn:
        conn.execute(
            text("DELETE FROM audit_events WHERE case_id = :c AND seq = 3"),
            {"c": case_key(conn, case["id"])},
        )
    code, _, err = verify(capsys)
    assert code == 1
    assert "event 3: the case is at version 3 but its trail ends at event 2" in err


def test_an_unknown_case_is_an_error(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = verify(capsys, "--case", "TW-2026-0099")
    assert (code, err.strip()) == (1, "no case TW-2026-0099")


def test_chain_heads_export(api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = three_event_case(api)
    second = api.create_case()
    target = tmp_path / "heads.jsonl"
    assert cli.main(["admin", "export-audit-heads", "--output", str(target)]) == 0
    assert "wrote 2 chain head(s)" in capsys.readouterr().out
    heads = [json.loads(line) for line in target.read_text().splitlines()]
    assert [(h["case_reference"], h["seq"]) for h in heads] == [
        ("TW-2026-0001", 3),
        ("TW-2026-0002", 1),
    ]
    assert [h["case_id"] for h in heads] == [first["id"], second["id"]]
    with get_engine().connect() as conn:
        last = conn.execute(
            text("SELECT hash FROM audit_events WHERE case_id = :c AND seq = 3"),
            {"c": case_key(conn, first["id"])},
        ).scalar_one()
    assert heads[0]["hash"] == last


def test_a_whole_database_is_read_a_batch_at_a_time(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of 2 over 5 cases (two full, one short): every case is checked once, in order,
    every head exported, and a break in the fourth case (the second batch) is named."""
    from cspr_engine.audit import chain

    monkeypatch.setattr(chain, "BATCH", 2)
    made = [three_event_case(api) if n % 2 else api.create_case() for n in range(5)]
    code, out, err = verify(capsys)
    assert (code, out.strip(), err) == (0, "audit chain intact: 5 case(s)", "")
    target = tmp_path / "heads.jsonl"
    assert cli.main(["admin", "export-audit-heads", "--output", str(target)]) == 0
    assert "wrote 5 chain head(s)" in capsys.readouterr().out
    heads = [json.loads(line) for line in target.read_text().splitlines()]
    assert [(h["case_id"], h["seq"]) for h in heads] == [
        (case["id"], 3 if n % 2 else 1) for n, case in enumerate(made)
    ]
    with behind_the_service() as conn:
        conn.execute(
            text("UPDATE audit_events SET comment = 'rewritten' WHERE case_id = :c AND seq = 3"),
            {"c": case_key(conn, made[3]["id"])},
        )
    code, out, err = verify(capsys)
    assert (code, out) == (1, "")
    assert err.strip() == (
        f"audit chain broken: case TW-2026-0004 ({made[3]['id']}), event 3: "
        "its content does not match its hash"
    )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET comment = 'x'",
        "DELETE FROM audit_events",
    ],
)
def test_postgresql_refuses_to_change_the_trail(
    api: Api, is_postgres: bool, statement: str
) -> None:
    if not is_postgres:
        pytest.skip("the append-only trigger is PostgreSQL's")
    three_event_case(api)
    with pytest.raises(DBAPIError, match="audit_events is append-only"):
        with get_engine().begin() as conn:
            conn.execute(text(statement))
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM audit_events")).scalar_one() == 3
