"""The `cspr-engine` command: serve, migrate, admin tasks, OpenAPI export, workflow checks."""

from __future__ import annotations

import argparse
import gc
import os
import secrets
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from cspr_engine.config import get_settings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlmodel import Session

    from cspr_engine.backup import Contents


def _now() -> datetime:
    return datetime.now(UTC)


def _configure_logging() -> None:
    # Ids and counts only: nothing in this service logs case content. JSON or text lines
    # (CSPR_LOG_FORMAT), with the request and actor ids (kit.logs).
    from cspr_engine.kit.logs import configure_logging

    configure_logging(get_settings())


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from cspr_engine.kit.connections import ConnectionLimits, bounded_protocol
    from cspr_engine.kit.logs import log_config

    # --host and --port are the settings CSPR_HOST and CSPR_PORT for this process, so that
    # whatever derives from them (the public base URL of links) agrees with where it listens.
    if args.host:
        os.environ["CSPR_HOST"] = args.host
    if args.port:
        os.environ["CSPR_PORT"] = str(args.port)
    get_settings.cache_clear()
    _configure_logging()
    settings = get_settings()
    if settings.bootstrap_admin_token:
        # The bootstrap admin is written at start-up: that needs the schema in place.
        from cspr_engine.db import get_engine
        from cspr_engine.migrations import current_revision, head_revision

        if current_revision(get_engine()) != head_revision():
            print(
                "error: refusing to start: the database is not at the latest schema "
                "(run `cspr-engine migrate` first)",
                file=sys.stderr,
            )
            return 3
    uvicorn.run(
        "cspr_engine.cli:serving_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # uvicorn's own lines (its access log too) in the same format, with the same ids.
        log_config=log_config(settings),
        # Bounds on every connection (kit.connections): head size, slow heads and bodies,
        # requests per connection; and no `server: uvicorn` header telling what runs here.
        http=bounded_protocol(
            ConnectionLimits(
                max_head_bytes=settings.max_header_bytes,
                head_timeout=settings.header_timeout_seconds,
                body_idle_timeout=settings.body_idle_timeout_seconds,
                max_requests=settings.max_requests_per_connection,
            )
        ),
        timeout_keep_alive=settings.keep_alive_seconds,
        server_header=False,
        # The client's address and scheme from X-Forwarded-For/-Proto only when the proxy
        # named in CSPR_FORWARDED_ALLOW_IPS sent them; unset, the connection's own.
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
    )
    return 0


def serving_app() -> FastAPI:
    """create_app() for `serve`, then the collector on again. What start-up made is frozen
    first (gc.freeze): it lives as long as the process, so no collection need walk it."""
    from cspr_engine.main import create_app

    try:
        return create_app()
    finally:
        gc.freeze()
        gc.enable()


def cmd_worker(_args: argparse.Namespace) -> int:
    """The scheduler alone: sweep clocks and deliver alerts until stopped (SIGINT/SIGTERM)."""
    import signal
    import threading

    from cspr_engine.scheduler.runner import Scheduler
    from cspr_engine.workflow import service as workflow_service

    _configure_logging()
    settings = get_settings()
    workflow_service.get_definitions()
    workflow_service.check_clock_start_options(settings.clock_start_options)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    scheduler = Scheduler(settings)
    scheduler.start()
    print("worker running: sweeping clocks and delivering alerts (Ctrl-C to stop)", flush=True)
    stop.wait()
    scheduler.shutdown()
    return 0


def cmd_migrate(_args: argparse.Namespace) -> int:
    from cspr_engine.migrations import upgrade_head

    upgrade_head()
    print("database migrated to the latest schema")
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    from cspr_engine.resources import CHECKOUT

    if CHECKOUT is None:
        # The committed document is the repository's: an installed package has none to compare.
        print(
            "error: `cspr-engine openapi` writes and checks the repository's "
            "openapi/openapi.json: run it in a checkout (an editable install)",
            file=sys.stderr,
        )
        return 2
    from cspr_engine.api.openapi import SPEC_PATH, render
    from cspr_engine.main import create_app

    text = render(create_app())
    if args.check:
        if not SPEC_PATH.exists() or SPEC_PATH.read_text(encoding="utf-8") != text:
            print(f"{SPEC_PATH.name} is out of date: run `make openapi`", file=sys.stderr)
            return 1
        print(f"{SPEC_PATH.name} is up to date")
        return 0
    SPEC_PATH.parent.mkdir(parents=True, exist_ok=True)
    SPEC_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {SPEC_PATH.relative_to(SPEC_PATH.parents[1])}")
    return 0


def cmd_check_workflows(_args: argparse.Namespace) -> int:
    from cspr_engine.workflow.definitions import WorkflowFileError, load_definitions

    try:
        found = load_definitions(get_settings().workflows_dir)
    except WorkflowFileError as exc:
        print(f"invalid workflow: {exc}", file=sys.stderr)
        return 1
    for (name, version), d in sorted(found.items()):
        print(
            f"{name} v{version}: {len(d.states)} states, {len(d.triggers)} triggers, "
            f"{len(d.gates)} gates, {len(d.clocks)} clocks"
        )
    return 0


def _session() -> Session:
    from sqlmodel import Session

    from cspr_engine.db import get_engine

    return Session(get_engine())


def cmd_create_partnership(args: argparse.Namespace) -> int:
    from cspr_engine.accounts import service

    with _session() as session:
        p = service.create_partnership(session=session, code=args.code, name=args.name, now=_now())
        session.commit()
        print(p.id)
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    from sqlmodel import col, select

    from cspr_engine.accounts import service
    from cspr_engine.accounts.models import Partnership

    with _session() as session:
        partnership = session.exec(
            select(Partnership).where(col(Partnership.code) == args.partnership.upper())
        ).first()
        if partnership is None:
            print(f"no partnership {args.partnership}", file=sys.stderr)
            return 1
        user = service.create_user(
            session=session,
            email=args.email,
            display_name=args.name,
            partnership=partnership,
            roles=[r.strip() for r in args.roles.split(",") if r.strip()],
            agency=args.agency,
            now=_now(),
            is_service_account=args.service_account,
        )
        session.commit()
        print(user.id)
    return 0


def _read_password(args: argparse.Namespace) -> str | None:
    """The new password: one line of standard input with --password-stdin, else typed twice
    at the terminal without echo."""
    import getpass

    if args.password_stdin:
        return sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not sys.stdin.isatty():
        print("standard input is not a terminal: use --password-stdin", file=sys.stderr)
        return None
    password = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != password:
        print("the two passwords differ", file=sys.stderr)
        return None
    return password


def cmd_set_password(args: argparse.Namespace) -> int:
    from cspr_engine.accounts import repository, service

    password = _read_password(args)
    if password is None:
        return 1
    with _session() as session:
        user = repository.user_by_email(session, service.normalise_email(args.email))
        if user is None:
            print(f"no user {args.email}", file=sys.stderr)
            return 1
        service.set_password(session=session, user=user, password=password, now=_now())
        session.commit()
        print(f"password set for {user.email}; their web sessions have been ended")
    return 0


def cmd_create_token(args: argparse.Namespace) -> int:
    from sqlmodel import col, select

    from cspr_engine.accounts import service
    from cspr_engine.accounts.models import User

    with _session() as session:
        email = args.email.strip().lower()
        user = session.exec(select(User).where(col(User.email) == email)).first()
        if user is None:
            print(f"no user {args.email}", file=sys.stderr)
            return 1
        now = _now()
        expires = now + timedelta(days=args.days) if args.days else None
        _, secret = service.create_token(
            session=session,
            user=user,
            name=args.name,
            now=now,
            expires_at=expires,
            note="created with cspr-engine admin create-token",
        )
        session.commit()
    # Only the secret on stdout, so `TOKEN=$(cspr-engine admin create-token ...)` works.
    print(secret)
    return 0


DEMO_PASSWORD_FILE = Path("var/demo-password.txt")


def _demo_password() -> str:
    """The demo users' password: made up once per checkout, kept (owner-only) under var/."""
    if DEMO_PASSWORD_FILE.is_file():
        return DEMO_PASSWORD_FILE.read_text().strip()
    password = "-".join(secrets.token_hex(3) for _ in range(3))
    DEMO_PASSWORD_FILE.parent.mkdir(parents=True, exist_ok=True)
    DEMO_PASSWORD_FILE.touch(mode=0o600)
    DEMO_PASSWORD_FILE.write_text(password + "\n")
    return password


def cmd_seed_demo(_args: argparse.Namespace) -> int:
    from cspr_engine.accounts.demo import DEMO_USERS, seed_demo, set_demo_passwords

    settings = get_settings()
    if settings.environment.value == "production":
        print("refusing to seed demo accounts in production", file=sys.stderr)
        return 1
    password = _demo_password()
    with _session() as session:
        created = seed_demo(session=session, now=_now())
        set_demo_passwords(session=session, password=password, now=_now())
        session.commit()
    print("Demo partnership DEMO: " + ("created" if created else "already present"))
    print("Users (get an API token with: .venv/bin/cspr-engine admin create-token EMAIL):")
    for email, _name, roles, agency in DEMO_USERS:
        print(f"  {email:<34} {','.join(roles)}{' (' + agency + ')' if agency else ''}")
    base = settings.public_base_url
    print(f"Web UI: {base}/ui  Sign in as any user above with the demo password {password}")
    print(f"        (kept in {DEMO_PASSWORD_FILE}).")
    return 0


def cmd_verify_audit(args: argparse.Namespace) -> int:
    """Recompute every case's audit hash chain; name the first broken link."""
    from cspr_engine.audit import chain

    checked = 0
    with _session() as session:
        for _case, broken in chain.verify_all(session, args.case):
            if broken is not None:
                print(f"audit chain broken: {broken}", file=sys.stderr)
                return 1
            checked += 1
    if args.case and not checked:
        print(f"no case {args.case}", file=sys.stderr)
        return 1
    print(f"audit chain intact: {checked} case(s)")
    return 0


def cmd_export_audit_heads(args: argparse.Namespace) -> int:
    """Each case's latest audit hash, one JSON object a line, to keep outside the database."""
    import json

    from cspr_engine.audit import chain

    with _session() as session:
        lines = [
            json.dumps(
                {
                    "case_id": str(h.case_id),
                    "case_reference": h.case_reference,
                    "seq": h.seq,
                    "hash": h.hash,
                },
                sort_keys=True,
            )
            for h in chain.heads(session)
        ]
    text = "\n".join(lines) + ("\n" if lines else "")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
        print(f"wrote {len(lines)} chain head(s) to {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """An online, consistent copy of the configured database in a new file (never overwrites)."""
    from cspr_engine.backup import BackupError, backup, describe_size

    try:
        done = backup(url=get_settings().database_url, target=Path(args.path))
    except BackupError as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"backup of {done.database} written to {done.path}")
    print(f"  size: {describe_size(done.size)}")
    _print_contents(done.contents)
    return 0


def _print_contents(contents: Contents) -> None:
    print(f"  schema revision: {contents.revision}")
    print(f"  cases: {contents.cases}")
    print(f"  audit events: {contents.audit_events}")


def cmd_restore(args: argparse.Namespace) -> int:
    """A backup restored into the configured database, which must be empty."""
    from alembic.script import ScriptDirectory

    from cspr_engine.backup import BackupError, restore
    from cspr_engine.migrations import alembic_config, head_revision

    try:
        done = restore(url=get_settings().database_url, source=Path(args.path))
    except BackupError as exc:
        print(f"restore failed: {exc}", file=sys.stderr)
        return 1
    print(f"{done.path} restored into {done.database}")
    _print_contents(done.contents)
    scripts = ScriptDirectory.from_config(alembic_config(quiet=True))
    if done.contents.revision not in {s.revision for s in scripts.walk_revisions()}:
        print("  a schema newer than this cspr_engine knows: install the version that wrote it")
    elif done.contents.revision != head_revision():
        print("  an older schema: run `cspr-engine migrate` before starting the service")
    print(
        "next: `cspr-engine admin verify-audit`, then `cspr-engine admin check-audit-heads "
        "FILE` with the heads exported last (docs/backup-and-restore.md)"
    )
    return 0


def cmd_check_audit_heads(args: argparse.Namespace) -> int:
    """Every chain head in a file written by export-audit-heads is in the database, unchanged."""
    import json

    from cspr_engine.backup import check_heads

    try:
        with open(args.path, encoding="utf-8") as lines:
            exported = [json.loads(line) for line in lines if line.strip()]
    except (OSError, ValueError) as exc:
        print(f"cannot read the heads file: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if not all(isinstance(head, dict) for head in exported):
        print("the heads file has a line that is not a JSON object", file=sys.stderr)
        return 1
    with _session() as session:
        try:
            result = check_heads(session, exported)
        except (KeyError, TypeError, ValueError) as exc:
            print(f"the heads file has a line without case_id, seq or hash: {exc}", file=sys.stderr)
            return 1
    for fault in result.faults:
        print(f"audit head not found: {fault}", file=sys.stderr)
    print(f"{result.matched} of {len(exported)} exported head(s) found unchanged")
    return 1 if result.faults else 0


def cmd_migrate_workflow(args: argparse.Namespace) -> int:
    """Move the cases of a workflow version to the next, as a migration file maps them: a
    dry-run report, then (with --apply) the same changes, one case per transaction."""
    from sqlmodel import Session, col, select

    from cspr_engine.accounts.models import Partnership
    from cspr_engine.cases.exceptions import ConcurrentUpdate
    from cspr_engine.db import get_engine, writer_bind
    from cspr_engine.workflow import service as workflow_service
    from cspr_engine.workflow import versioning
    from cspr_engine.workflow.definitions import WorkflowFileError

    try:
        migration = versioning.load_migration(Path(args.file), workflow_service.get_definitions())
    except (versioning.MigrationFileError, WorkflowFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # One instant for the report and for what is applied, so the two cannot differ by it.
    now = _now()
    with _session() as session:
        partnership_id = None
        if args.partnership:
            partnership_id = session.exec(
                select(Partnership.id).where(col(Partnership.code) == args.partnership.upper())
            ).first()
            if partnership_id is None:
                print(f"error: no partnership {args.partnership}", file=sys.stderr)
                return 2
        try:
            planned = versioning.plan(
                session, migration=migration, now=now, partnership_id=partnership_id
            )
        except versioning.MigrationConflict as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    for line in versioning.describe(planned):
        print(line)
    if not args.apply:
        print("dry run: nothing was changed; run again with --apply to make these changes")
        return 0
    migrated: list[str] = []
    skipped: list[str] = []
    failed: list[str] = []
    for case in planned.cases:
        with Session(writer_bind(get_engine())) as session:
            try:
                done = versioning.apply_case(
                    session, migration=migration, case_id=case.case_id, now=now
                )
                session.commit()
            except (ConcurrentUpdate, versioning.MigrationConflict) as exc:
                session.rollback()
                failed.append(case.reference)
                print(f"{case.reference}: not migrated: {exc}")
                continue
        if done is None:
            skipped.append(case.reference)
            print(f"{case.reference}: no longer at v{migration.source.version}; skipped")
            continue
        migrated.append(case.reference)
        version = done.version + 1
        print(f"{case.reference}: migrated to v{migration.target.version} (case version {version})")
        if done != case:
            # Changed between the report and its turn: it was migrated as it then stood.
            print("  it changed after the report above; what was done instead:")
            for line in versioning.describe_case(done):
                print(f"  {line}")
    print(
        f"applied: {len(migrated)} case(s) migrated, {len(skipped)} skipped, "
        f"{len(failed)} not migrated" + (" (run the command again for those)" if failed else "")
    )
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cspr-engine", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("worker", help="run the scheduler alone (no API)").set_defaults(func=cmd_worker)
    sub.add_parser("migrate", help="upgrade the database to the latest schema").set_defaults(
        func=cmd_migrate
    )
    openapi = sub.add_parser("openapi", help="write openapi/openapi.json")
    openapi.add_argument("--check", action="store_true", help="fail if the file is out of date")
    openapi.set_defaults(func=cmd_openapi)
    sub.add_parser("check-workflows", help="load and check every workflow file").set_defaults(
        func=cmd_check_workflows
    )

    admin = sub.add_parser("admin", help="accounts").add_subparsers(dest="admin", required=True)
    p = admin.add_parser("create-partnership", help="a partnership (tenant)")
    p.add_argument("code")
    p.add_argument("name")
    p.set_defaults(func=cmd_create_partnership)
    u = admin.add_parser("create-user", help="a user of a partnership")
    u.add_argument("--email", required=True)
    u.add_argument("--name", required=True)
    u.add_argument("--partnership", required=True, help="partnership code")
    u.add_argument("--roles", required=True, help="comma-separated, e.g. dsp or panel_chair")
    u.add_argument("--agency")
    u.add_argument(
        "--service-account",
        action="store_true",
        help="a partner's case system: API tokens only, never a password",
    )
    u.set_defaults(func=cmd_create_user)
    sp = admin.add_parser(
        "set-password", help="set a user's web sign-in password (typed without echo)"
    )
    sp.add_argument("email")
    sp.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input (for scripts)",
    )
    sp.set_defaults(func=cmd_set_password)
    t = admin.add_parser("create-token", help="an API token; prints the secret once")
    t.add_argument("email")
    t.add_argument("--name", default="cli")
    t.add_argument("--days", type=int, default=90, help="expiry in days (0: never)")
    t.set_defaults(func=cmd_create_token)
    v = admin.add_parser("verify-audit", help="recompute the audit hash chains")
    v.add_argument("--case", help="one case, by reference")
    v.set_defaults(func=cmd_verify_audit)
    e = admin.add_parser("export-audit-heads", help="each case's latest audit hash (JSON lines)")
    e.add_argument("--output", help="a file (default: standard output)")
    e.set_defaults(func=cmd_export_audit_heads)
    b = admin.add_parser(
        "backup", help="an online, consistent backup of the database into a new file"
    )
    b.add_argument("path", help="the backup file to write (must not exist)")
    b.set_defaults(func=cmd_backup)
    r = admin.add_parser("restore", help="restore a backup into the (empty) configured database")
    r.add_argument("path", help="a file written by `admin backup`")
    r.set_defaults(func=cmd_restore)
    h = admin.add_parser(
        "check-audit-heads", help="compare the database with heads from export-audit-heads"
    )
    h.add_argument("path", help="a file written by `admin export-audit-heads --output`")
    h.set_defaults(func=cmd_check_audit_heads)
    mw = admin.add_parser(
        "migrate-workflow",
        help="move a workflow version's cases to the next, as a migration file maps them",
    )
    mw.add_argument("file", help="a migration file (workflows/migrations/NAME-V1-to-V2.yaml)")
    mw.add_argument("--partnership", help="only this partnership's cases (its code)")
    mw.add_argument(
        "--apply",
        action="store_true",
        help="make the changes (without it: a dry-run report that changes nothing)",
    )
    mw.set_defaults(func=cmd_migrate_workflow)
    admin.add_parser(
        "seed-demo", help="a demo partnership and users (not in production)"
    ).set_defaults(func=cmd_seed_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pydantic import ValidationError

    from cspr_engine.config import ConfigurationError, describe_refusal

    try:
        get_settings()
    except ValidationError as exc:
        # A setting the service cannot run with: one line naming it, and no start.
        print(f"error: refusing to start: {describe_refusal(exc)}", file=sys.stderr)
        return 3
    if args.func is cmd_serve:
        # Start-up makes some 250,000 objects that live as long as the process (routes,
        # schemas, tables) and next to no garbage: the cyclic collector would walk them again
        # and again, for a seventh of the start-up time. So it is off before the first heavy
        # import (the commands import the database and web libraries themselves), and on again
        # once the app is built (serving_app).
        gc.disable()
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from cspr_engine.errors import CsprError

    try:
        return int(args.func(args))
    except CsprError as exc:
        print(f"error: {exc.detail or exc.title}", file=sys.stderr)
        return 2
    except ConfigurationError as exc:
        print(f"error: refusing to start: {exc}", file=sys.stderr)
        return 3
    except (OperationalError, ProgrammingError) as exc:
        # An unreachable or unmigrated database: say so, without a traceback or the URL.
        print(
            f"error: the database refused the command ({type(exc.orig).__name__}): is it "
            "running, and migrated (`cspr-engine migrate`)?",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
