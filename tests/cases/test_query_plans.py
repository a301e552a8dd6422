"""cases.repository: the database's plan for a partnership's case list starts from the
partnership indexes, on SQLite and on PostgreSQL.

A national deployment holds every partnership's cases in one table: a list that scans them all
gets slower with every case anyone opens (at 100,000 cases a partnership's list took 74 ms that
way, 2 ms from the index). The plan is read with EXPLAIN; on PostgreSQL sequential scans are
priced out (`enable_seqscan = off`), so a plan that still scans means no index could be used.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, or_
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from cspr_engine.access import policy
from cspr_engine.accounts.schemas import Actor
from cspr_engine.cases import repository as case_repository
from cspr_engine.cases.models import Case
from cspr_engine.db import get_engine

PARTNERSHIP_READER = Actor(
    user_id=uuid.uuid4(),
    partnership_id=uuid.uuid4(),
    partnership_code="TW",
    roles=frozenset({"panel_chair"}),
    agency=None,
)


def plan(engine: Engine, query: SelectOfScalar[Case]) -> list[str]:
    """EXPLAIN's lines for `query` (values inlined: the plan does not depend on them)."""
    sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return [str(row[3]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        return [str(row[0]) for row in conn.exec_driver_sql("EXPLAIN " + sql)]


def scans_every_case(lines: list[str]) -> bool:
    """The outer `cases` table is read whole (not the aliased one inside a subquery)."""
    return any(
        line.startswith("SCAN cases") or "Seq Scan on cases " in line + " " for line in lines
    )


def uses_a_partnership_index(lines: list[str]) -> bool:
    """Some index of `cases` is searched by partnership (which one depends on the rows the
    planner has seen)."""
    return any(
        ("INDEX" in line and "(partnership_id=?" in line)  # SQLite
        or "Index Cond: (partnership_id = " in line  # PostgreSQL
        for line in lines
    )


def newest_first(query: SelectOfScalar[Case]) -> SelectOfScalar[Case]:
    return query.order_by(col(Case.created_at).desc(), col(Case.id).desc()).limit(50)


def listing(**filters: Any) -> SelectOfScalar[Case]:
    later = filters.pop("after", False)
    after = (datetime(2026, 6, 1, tzinfo=UTC), uuid.uuid4()) if later else None
    return case_repository.list_query(
        PARTNERSHIP_READER, case_repository.CaseFilters(**filters), limit=51, after=after
    )


@pytest.mark.parametrize(
    "filters",
    [
        pytest.param({}, id="all states"),
        pytest.param({"state": "closed"}, id="one state"),
        pytest.param({"state": "closed", "agency": "police"}, id="state and agency"),
        pytest.param({"state": "closed", "after": True}, id="a later page"),
        pytest.param({"open_only": True}, id="open cases"),
    ],
)
def test_a_partnership_readers_list_starts_from_the_partnership_indexes(
    filters: dict[str, Any],
) -> None:
    lines = plan(get_engine(), listing(**filters))
    assert uses_a_partnership_index(lines), "\n".join(lines)
    assert not scans_every_case(lines), lines


def test_without_the_partnership_condition_the_same_list_scans_every_case() -> None:
    """What the check above guards against: the rule alone ("own partnership, or shared with
    it", an OR with EXISTS) leaves the planner no index to start from."""
    own_or_shared = or_(
        col(Case.partnership_id) == PARTNERSHIP_READER.partnership_id,
        policy.shared_with(PARTNERSHIP_READER),
    )
    lines = plan(get_engine(), newest_first(select(Case).where(own_or_shared)))
    assert scans_every_case(lines), lines


def test_a_single_case_is_read_by_its_key() -> None:
    query = select(Case).where(
        policy.readable_cases(PARTNERSHIP_READER, one=True), col(Case.id) == uuid.uuid4()
    )
    lines = plan(get_engine(), query)
    assert not scans_every_case(lines), lines
