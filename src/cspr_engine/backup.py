"""Online backups of the configured database and their restore into an empty one.

SQLite: the online backup API (`sqlite3.Connection.backup`) copies every page in one step under
one read transaction, so the copy is the database as of one commit while the service goes on
writing (WAL mode lets readers and writers run side by side). PostgreSQL: `pg_dump
--format=custom` under a snapshot exported by the transaction that also reads the figures
reported, so the figures describe exactly the rows in the archive.

A backup is written beside its final name and linked into place only when complete, so a file
at PATH is always a whole backup, and an existing file is never overwritten. A restore goes
only into an empty database: it never merges with, or replaces, data that is already there.
The password of a PostgreSQL URL travels to pg_dump and pg_restore in PGPASSWORD, never on a
command line, in a message or in a log line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from cspr_engine.audit.models import AuditEvent
from cspr_engine.cases.models import Case

# libpq reads these from the environment; a URL's query may name them (e.g. ?sslmode=require).
_LIBPQ_QUERY_ENV = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "host": "PGHOST",
    "port": "PGPORT",
}
# pg_dump or pg_restore longer than this is stuck, not slow (a day-sized database takes minutes).
TOOL_TIMEOUT_SECONDS = 6 * 3600


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


@dataclass(frozen=True)
class Contents:
    """What a database (or a backup of it) holds, in the figures an operator checks."""

    revision: str | None
    cases: int
    audit_events: int


@dataclass(frozen=True)
class Outcome:
    path: Path
    size: int
    contents: Contents
    database: str  # the URL without its password


def describe(url: str) -> str:
    """The URL as it may be printed: never with its password."""
    return make_url(url).render_as_string(hide_password=True)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


# -- contents -----------------------------------------------------------------------------


@contextlib.contextmanager
def _database(url: str) -> Iterator[Engine]:
    """An engine on `url`; a database that cannot be reached is a BackupError naming it
    (without its password) and the driver's first line."""
    engine = create_engine(url, hide_parameters=True)
    try:
        yield engine
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise BackupError(f"the database {describe(url)}: {reason}") from exc
    finally:
        engine.dispose()


def _count(conn: Connection, table: str) -> int:
    return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def read_contents(conn: Connection) -> Contents:
    revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return Contents(
        revision=revision,
        cases=_count(conn, "cases"),
        audit_events=_count(conn, "audit_events"),
    )


def contents_of(url: str) -> Contents:
    with _database(url) as engine, engine.connect() as conn:
        return read_contents(conn)


def _sqlite_contents(path: Path) -> Contents:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        cases = conn.execute("SELECT COUNT(*) FROM cases").fetchone()[0]
        events = conn.execute("SELECT COUNT(*) FROM audit_events").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a cspr_engine SQLite database ({exc})") from exc
    finally:
        conn.close()
    return Contents(revision=revision[0] if revision else None, cases=cases, audit_events=events)


# -- writing a file once --------------------------------------------------------------------


def _refuse_existing(target: Path) -> None:
    if target.exists() or target.is_symlink():
        raise BackupError(f"{target} already exists: a backup never overwrites a file")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a directory")


@contextlib.contextmanager
def _written_once(target: Path) -> Iterator[Path]:
    """A temporary path beside `target`; linked to `target` when the block ends without an
    error (refused if something appeared there meanwhile), removed in every case."""
    _refuse_existing(target)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(handle)
    # mkstemp's file is the owner's alone (0600): a backup holds every case in full.
    partial = Path(name)
    try:
        yield partial
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        # link() fails if the name exists: no window in which a backup could replace a file.
        try:
            os.link(partial, target)
        except FileExistsError as exc:
            raise BackupError(f"{target} appeared while the backup ran; not replaced") from exc
        _sync_directory(target.parent)
    finally:
        partial.unlink(missing_ok=True)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- PostgreSQL tools ------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolConnection:
    """How pg_dump and pg_restore reach a database: options for the command line and the
    environment (where the password goes)."""

    args: list[str]
    env: dict[str, str]


def tool_connection(url: str, environ: dict[str, str] | None = None) -> ToolConnection:
    """pg_dump/pg_restore connection options for a SQLAlchemy PostgreSQL URL."""
    parsed: URL = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise BackupError(f"not a PostgreSQL URL: {describe(url)}")
    if not parsed.database:
        raise BackupError(f"the URL names no database: {describe(url)}")
    env = dict(os.environ if environ is None else environ)
    args: list[str] = []
    if parsed.host:
        args += ["--host", parsed.host]
    if parsed.port:
        args += ["--port", str(parsed.port)]
    if parsed.username:
        args += ["--username", parsed.username]
    args += ["--dbname", parsed.database]
    for key, value in parsed.query.items():
        variable = _LIBPQ_QUERY_ENV.get(key)
        if variable is None:
            raise BackupError(f"the URL's query option {key!r} has no pg_dump equivalent")
        env[variable] = value if isinstance(value, str) else value[-1]
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    # A prompt would hang a scheduled job: no password and none accepted means fail at once.
    args.append("--no-password")
    return ToolConnection(args=args, env=env)


def _run_tool(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    tool = shutil.which(command[0])
    if tool is None:
        raise BackupError(
            f"{command[0]} is not installed (Debian: apt-get install postgresql-client)"
        )
    try:
        result = subprocess.run(
            [tool, *command[1:]],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BackupError(f"{command[0]} did not finish in {TOOL_TIMEOUT_SECONDS} s") from exc
    if result.returncode != 0:
        # libpq's messages name the host, the user and the fault, never the password.
        raise BackupError(
            f"{command[0]} failed (exit {result.returncode}): {result.stderr.strip()}"
        )
    return result


# -- backup ---------------------------------------------------------------------------------


def backup(*, url: str, target: Path) -> Outcome:
    """Writes a consistent copy of the live database at `url` to `target`, which must not
    exist; the service may go on writing meanwhile."""
    target = target.absolute()
    if is_sqlite(url):
        contents = _backup_sqlite(url, target)
    else:
        contents = _backup_postgres(url, target)
    return Outcome(target, target.stat().st_size, contents, describe(url))


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(database).absolute()


def _backup_sqlite(url: str, target: Path) -> Contents:
    source_path = _sqlite_path(url)
    if not source_path.is_file():
        raise BackupError(f"no database file at {source_path}")
    with _written_once(target) as partial:
        source = sqlite3.connect(source_path, timeout=30)
        copy = sqlite3.connect(partial)
        try:
            # pages=-1: every page in one step, under one read transaction: a snapshot as of
            # one commit. Writers go on appending to the WAL; they never wait for us.
            source.backup(copy, pages=-1)
            # The copy stands alone: one file, no WAL beside it.
            copy.execute("PRAGMA journal_mode=DELETE")
            check = copy.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            copy.close()
            source.close()
        if check != "ok":
            raise BackupError(f"the copy failed SQLite's quick_check: {check}")
        contents = _sqlite_contents(partial)
    return contents


def _backup_postgres(url: str, target: Path) -> Contents:
    connection = tool_connection(url)
    with _database(url) as engine:
        with (
            engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn,
            conn.begin(),
        ):
            # pg_dump adopts this transaction's snapshot, so the archive holds exactly the rows
            # counted here. The transaction stays open until pg_dump is done with it.
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            contents = read_contents(conn)
            with _written_once(target) as partial:
                _run_tool(
                    [
                        "pg_dump",
                        "--format=custom",
                        f"--snapshot={snapshot}",
                        f"--file={partial}",
                        *connection.args,
                    ],
                    connection.env,
                )
                # The archive can be read back: its table of contents lists the audit table.
                listing = _run_tool(["pg_restore", "--list", str(partial)], os.environ.copy())
                if "TABLE DATA public audit_events" not in listing.stdout:
                    raise BackupError("the archive has no audit_events data")
    return contents


# -- restore --------------------------------------------------------------------------------


def restore(*, url: str, source: Path) -> Outcome:
    """Restores the backup at `source` into the database at `url`, which must be empty."""
    source = source.absolute()
    if not source.is_file():
        raise BackupError(f"no backup at {source}")
    if is_sqlite(url):
        _restore_sqlite(url, source)
    else:
        _restore_postgres(url, source)
    return Outcome(source, source.stat().st_size, contents_of(url), describe(url))


def _sqlite_tables(path: Path) -> list[str]:
    conn = sqlite3.connect(path, timeout=5)
    try:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not an SQLite database ({exc}); not replaced") from exc
    finally:
        conn.close()
    return [r[0] for r in rows]


def _restore_sqlite(url: str, source: Path) -> None:
    target = _sqlite_path(url)
    contents = _sqlite_contents(source)
    if contents.revision is None:
        raise BackupError(f"{source} has no schema revision: not a cspr_engine backup")
    if target.exists():
        tables = _sqlite_tables(target)
        if tables:
            raise BackupError(
                f"the database {target} is not empty ({len(tables)} tables): a restore goes "
                "only into an empty database; move the file aside (with its -wal and -shm "
                "files) or configure a new path"
            )
    for suffix in ("-wal", "-shm", "-journal"):
        beside = Path(f"{target}{suffix}")
        if beside.exists() and beside.stat().st_size > 0:
            # Closing the last connection removes these: one still open is a running service,
            # and its log would be applied to the restored file.
            raise BackupError(f"{beside} exists: stop the service using {target} first")
        beside.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(handle)
    partial = Path(name)
    try:
        shutil.copyfile(source, partial)
        with open(partial, "rb") as copied:
            os.fsync(copied.fileno())
        if target.exists():
            if _sqlite_tables(target):  # written to since the check above
                raise BackupError(f"the database {target} is no longer empty; not replaced")
            os.replace(partial, target)
        else:
            try:
                os.link(partial, target)
            except FileExistsError as exc:
                raise BackupError(f"{target} appeared during the restore; not replaced") from exc
        _sync_directory(target.parent)
    finally:
        partial.unlink(missing_ok=True)


_USER_RELATIONS = text(
    "SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'"
)


def _restore_postgres(url: str, source: Path) -> None:
    connection = tool_connection(url)
    with _database(url) as engine:
        with engine.connect() as conn:
            relations = int(conn.execute(_USER_RELATIONS).scalar_one())
        if relations:
            raise BackupError(
                f"the database {describe(url)} is not empty ({relations} tables, views or "
                "sequences): a restore goes only into an empty database; create a new one "
                "(createdb) and point CSPR_DATABASE_URL at it"
            )
        # One transaction: a failed restore leaves the database as empty as it was.
        # --no-owner: the restoring role owns what it creates (the source's roles may not
        # exist on this server).
        _run_tool(
            [
                "pg_restore",
                "--no-owner",
                "--single-transaction",
                "--exit-on-error",
                *connection.args,
                str(source),
            ],
            connection.env,
        )
        # pg_restore carries no planner statistics; the first queries should not go blind.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))


def describe_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    scaled = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        scaled /= 1024
        if scaled < 1024 or unit == "GiB":
            break
    return f"{scaled:.1f} {unit} ({size} bytes)"


# -- audit chain heads ----------------------------------------------------------------------


@dataclass(frozen=True)
class HeadCheck:
    matched: int
    faults: list[str]


def check_heads(session: Session, exported: list[dict[str, Any]]) -> HeadCheck:
    """Each exported chain head (`export-audit-heads`) against this database: the case's
    event at the head's seq must carry the head's hash. A chain may have grown since (events
    after the export); a missing case, a shorter chain or another hash is a fault."""
    references = {
        str(case_id): reference
        for case_id, reference in session.exec(select(Case.id, Case.reference))
    }
    hashes = {
        (str(case_id), seq): hash_
        for case_id, seq, hash_ in session.exec(
            select(AuditEvent.case_id, AuditEvent.seq, AuditEvent.hash)
        )
    }
    last_seq: dict[str, int] = {}
    for case_id, seq in hashes:
        last_seq[case_id] = max(seq, last_seq.get(case_id, 0))
    faults: list[str] = []
    matched = 0
    for head in exported:
        case_id, seq = str(head["case_id"]), int(head["seq"])
        name = f"case {head.get('case_reference')} ({case_id})"
        if case_id not in references:
            faults.append(f"{name}: not in this database (exported at event {seq})")
        elif (case_id, seq) not in hashes:
            faults.append(
                f"{name}: its trail ends at event {last_seq.get(case_id, 0)}, "
                f"before the exported head, event {seq}"
            )
        elif hashes[(case_id, seq)] != head["hash"]:
            faults.append(f"{name}, event {seq}: its hash differs from the exported head")
        else:
            matched += 1
    return HeadCheck(matched=matched, faults=faults)
