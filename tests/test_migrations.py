"""The Alembic migrations build the schema the models describe, both ways, and `/readyz`
tells a migrated database from one that is not."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import Engine, inspect

import cspr_engine.models  # noqa: F401  (every table in the metadata)
from cspr_engine.config import get_settings
from cspr_engine.db import build_engine, get_engine
from cspr_engine.errors import PROBLEM_MEDIA_TYPE
from cspr_engine.kit.tables import metadata
from cspr_engine.migrations import alembic_config, current_revision, head_revision

TABLES = set(metadata.tables)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def run(engine: Engine, action: str, target: str) -> None:
    """`alembic upgrade/downgrade target` on `engine`, through the project's env.py."""
    with engine.begin() as conn:
        config = alembic_config(quiet=True)
        config.attributes["connection"] = conn
        getattr(command, action)(config, target)


def differences(engine: Engine) -> list[Any]:
    """What `alembic check` would report: the models against the live schema."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "target_metadata": metadata}
        )
        return list(compare_metadata(context, metadata))


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Engine]:
    engine = build_engine(sqlite_url(tmp_path / "scratch.db"))
    yield engine
    engine.dispose()


def test_there_is_exactly_one_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config(quiet=True)).get_heads()
    assert len(heads) == 1
    assert heads[0] == head_revision()


def test_upgrade_head_on_an_empty_sqlite_file(scratch: Engine) -> None:
    assert inspect(scratch).get_table_names() == []
    assert current_revision(scratch) is None
    run(scratch, "upgrade", "head")
    assert set(inspect(scratch).get_table_names()) == TABLES | {"alembic_version"}
    assert current_revision(scratch) == head_revision()
    assert differences(scratch) == []


def test_the_models_match_the_migrated_test_database() -> None:
    # The session database (SQLite or PostgreSQL) was migrated by conftest with upgrade_head.
    engine = get_engine()
    assert current_revision(engine) == head_revision()
    assert TABLES <= set(inspect(engine).get_table_names())
    assert differences(engine) == []


def test_a_model_change_without_a_migration_is_noticed(scratch: Engine) -> None:
    # The comparison above could pass vacuously; prove it sees a missing table.
    run(scratch, "upgrade", "head")
    with scratch.begin() as conn:
        conn.exec_driver_sql("DROP TABLE audit_events")
    found = differences(scratch)
    assert [(d[0], d[1].name) for d in found if d[0] == "add_table"] == [
        ("add_table", "audit_events")
    ]


def test_downgrade_to_base_and_upgrade_again(scratch: Engine) -> None:
    run(scratch, "upgrade", "head")
    run(scratch, "downgrade", "base")
    assert set(inspect(scratch).get_table_names()) <= {"alembic_version"}
    assert current_revision(scratch) is None
    run(scratch, "upgrade", "head")
    assert set(inspect(scratch).get_table_names()) == TABLES | {"alembic_version"}
    assert current_revision(scratch) == head_revision()
    assert differences(scratch) == []


# -- /readyz --------------------------------------------------------------------------------


def test_readyz_on_the_migrated_test_database(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok", "migration": head_revision()}


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@contextmanager
def database(url: str) -> Iterator[None]:
    """Settings and engine as if CSPR_DATABASE_URL were `url`; put back afterwards."""
    saved = os.environ.get("CSPR_DATABASE_URL")
    get_engine().dispose()
    os.environ["CSPR_DATABASE_URL"] = url
    get_settings.cache_clear()
    get_engine.cache_clear()
    try:
        yield
    finally:
        get_engine().dispose()
        if saved is None:
            os.environ.pop("CSPR_DATABASE_URL", None)
        else:
            os.environ["CSPR_DATABASE_URL"] = saved
        get_settings.cache_clear()
        get_engine.cache_clear()


def readyz_on(url: str) -> Any:
    from cspr_engine.main import create_app

    with database(url):
        assert get_settings().database_url == url
        with TestClient(create_app()) as client:
            return client.get("/readyz")


def test_readyz_refuses_a_database_that_is_not_migrated(tmp_path: Path) -> None:
    original = get_settings().database_url
    response = readyz_on(sqlite_url(tmp_path / "empty.db"))
    assert response.status_code == 503
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body = response.json()
    assert body["status"] == 503
    assert body["type"] == "/problems/service-unavailable"
    assert body["instance"] == "/readyz"
    assert f"at nothing, not {head_revision()}" in body["detail"]
    assert "cspr-engine migrate" in body["detail"]
    # Put back: the suite's database again.
    assert get_settings().database_url == original
    assert current_revision(get_engine()) == head_revision()


def test_readyz_refuses_a_database_behind_the_head(tmp_path: Path) -> None:
    engine = build_engine(sqlite_url(tmp_path / "behind.db"))
    run(engine, "upgrade", "head")
    run(engine, "downgrade", "base")
    engine.dispose()
    response = readyz_on(sqlite_url(tmp_path / "behind.db"))
    assert response.status_code == 503


def test_readyz_accepts_another_migrated_database(tmp_path: Path) -> None:
    engine = build_engine(sqlite_url(tmp_path / "fresh.db"))
    run(engine, "upgrade", "head")
    engine.dispose()
    response = readyz_on(sqlite_url(tmp_path / "fresh.db"))
    assert response.status_code == 200
    assert response.json()["migration"] == head_revision()
