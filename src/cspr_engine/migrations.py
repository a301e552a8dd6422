"""Running and inspecting Alembic migrations from the application.

Alembic itself is imported only where it runs: loading it costs about a tenth of a second
(it builds its `op` proxies and loads Mako), and `/readyz`, which asks for the head and the
database's revision, reads both without it (`head_revision`, `current_revision`).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

from cspr_engine.resources import ALEMBIC_INI, MIGRATIONS_DIR

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic's defaults, which migrations/env.py keeps.
VERSIONS_DIR = MIGRATIONS_DIR / "versions"
VERSION_TABLE = "alembic_version"


def alembic_config(*, quiet: bool = False) -> Config:
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # The package is imported already: the ini's `prepend_sys_path = src` is for the `alembic`
    # command run in a checkout, and would put a `src` of the working directory first.
    config.set_main_option("prepend_sys_path", "")
    config.attributes["configure_logging"] = not quiet
    return config


def upgrade_head(*, quiet: bool = False) -> None:
    from alembic import command

    command.upgrade(alembic_config(quiet=quiet), "head")


def head_revision() -> str | None:
    """The revision the scripts lead to: the one no script names as its down_revision, read
    from their plain `revision = "..."` and `down_revision = ...` lines. Anything else (no
    script, two heads, a value that is not a literal) is left to Alembic;
    tests/test_migrations.py checks that both agree."""
    plain = _plain_head()
    if plain is not None:
        return plain
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _plain_head() -> str | None:
    revisions: set[str] = set()
    downs: set[str] = set()
    # The files Alembic reads as revisions: the .py files of the directory, not __init__.py.
    for path in sorted(VERSIONS_DIR.glob("*.py")):
        if path.name.startswith(("__init__", ".#")):
            continue
        found = _revision_lines(path)
        if found is None or found[0] in revisions:
            return None
        revisions.add(found[0])
        downs.update(found[1])
    heads = revisions - downs
    # A down_revision no script has is Alembic's to report.
    return heads.pop() if len(heads) == 1 and downs <= revisions else None


def _revision_lines(path: Path) -> tuple[str, tuple[str, ...]] | None:
    """`revision` and `down_revision` of a script, if both are literals at module level."""
    try:
        module = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (SyntaxError, ValueError):
        return None
    values: dict[str, object] = {}
    for node in module.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            try:
                values[target.id] = ast.literal_eval(value)
            except (ValueError, TypeError):
                return None
    revision, down = values.get("revision"), values.get("down_revision")
    if not isinstance(revision, str) or "down_revision" not in values:
        return None
    if down is None:
        return revision, ()
    if isinstance(down, str):
        return revision, (down,)
    if isinstance(down, tuple | list) and all(isinstance(d, str) for d in down):
        return revision, tuple(down)
    return None


def current_revision(engine: Engine) -> str | None:
    """The revision the database's version table records: None before the first migration.
    Several rows (unmerged branches) are Alembic's to refuse."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
        if len(rows) > 1:
            from alembic.runtime.migration import MigrationContext

            return MigrationContext.configure(conn).get_current_revision()
    return str(rows[0]) if rows else None
