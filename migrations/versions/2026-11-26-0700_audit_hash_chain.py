"""Audit hash chain (prev_hash, hash on every event) and, on PostgreSQL, a trigger that
refuses any UPDATE or DELETE of an audit event.

Revision ID: 7c1d2e3f4a5b
Revises: d9db30b79401
Create Date: 2026-11-26 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c1d2e3f4a5b"
down_revision: str | None = "d9db30b79401"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
"""


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("hash", sa.String(length=64), nullable=False, server_default="")
        )
    _backfill()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY)


COLUMNS = (
    "id case_id seq at kind actor_id actor_roles actor_agency workflow_version trigger "
    "from_state to_state data comment basis request_id"
).split()


def _backfill() -> None:
    # Events written before this revision get their chain now, case by case in order. The
    # table is read as it is at this revision (not through today's model), and hashed by the
    # application's own function so that old and new events verify alike.
    from types import SimpleNamespace

    from cspr_engine.audit import chain
    from cspr_engine.kit.tables import UTCDateTime, json_type

    types = {
        "id": sa.Uuid(),
        "case_id": sa.Uuid(),
        "actor_id": sa.Uuid(),
        "at": UTCDateTime(),
        "actor_roles": json_type(),
        "data": json_type(),
    }
    table = sa.table(
        "audit_events",
        *(sa.column(name, types.get(name)) for name in COLUMNS),
        sa.column("prev_hash"),
        sa.column("hash"),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(*(table.c[n] for n in COLUMNS)).order_by("case_id", "seq"))
    previous: dict[object, str | None] = {}
    for row in rows.mappings().all():
        event = SimpleNamespace(**row, prev_hash=previous.get(row["case_id"]))
        digest = chain.compute_hash(event)  # type: ignore[arg-type]
        bind.execute(
            table.update()
            .where(table.c.id == row["id"])
            .values(prev_hash=event.prev_hash, hash=digest)
        )
        previous[row["case_id"]] = digest


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
