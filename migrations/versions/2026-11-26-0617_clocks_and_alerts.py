"""Clocks (deadlines, extensions, calendar additions) and alerts (outbox, inbox recipients,
webhook subscriptions, deliveries and their attempts).

Revision ID: d9db30b79401
Revises: 653fe11bd48a
Create Date: 2026-11-26 06:17:27.468083
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

import cspr_engine.kit.tables

revision: str = "d9db30b79401"
down_revision: str | None = "653fe11bd48a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar_additions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("added_by", sa.Uuid(), nullable=False),
        sa.Column("added_at", cspr_engine.kit.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_by", sa.Uuid(), nullable=True),
        sa.Column("withdrawn_at", cspr_engine.kit.tables.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["added_by"],
            ["users.id"],
            name=op.f("calendar_additions_added_by_fkey"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["withdrawn_by"],
            ["users.id"],
            name=op.f("calendar_additions_withdrawn_by_fkey"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("calendar_additions_pkey")),
    )
    with op.batch_alter_table("calendar_additions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_calendar_additions_day"), ["day"], unique=False)

    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partnership_id", sa.Uuid(), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column(
            "events",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("secret", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", cspr_engine.kit.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", cspr_engine.kit.tables.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("webhook_subscriptions_created_by_fkey"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["partnership_id"],
            ["partnerships.id"],
            name=op.f("webhook_subscriptions_partnership_id_fkey"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("webhook_subscriptions_pkey")),
    )
    with op.batch_alter_table("webhook_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_subscriptions_partnership_id"), ["partnership_id"], unique=False
        )

    op.create_table(
        "deadlines",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("partnership_id", sa.Uuid(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("start_option", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("anchor_on", sa.Date(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("due_at", cspr_engine.kit.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("met_on", sa.Date(), nullable=True),
        sa.Column("met_at", cspr_engine.kit.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("breached_at", cspr_engine.kit.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", cspr_engine.kit.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rungs_fired", sa.Integer(), nullable=False),
        sa.Column("next_rung_at", cspr_engine.kit.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("calendar_version", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("created_at", cspr_engine.kit.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cspr_engine.kit.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("deadlines_case_id_fkey"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["partnership_id"],
            ["partnerships.id"],
            name=op.f("deadlines_partnership_id_fkey"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("deadlines_pkey")),
        sa.UniqueConstraint(
            "case_id", "key", "sequence", name=op.f("deadlines_case_id_key_sequence_key")
        ),
    )
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.create_index("ix_deadlines_case_id", ["case_id"], unique=False)
        batch_op.create_index(
            "ix_deadlines_next_rung_at",
            ["next_rung_at"],
            unique=False,
            postgresql_where=sa.text("next_rung_at IS NOT NULL"),
            sqlite_where=sa.text("next_rung_at IS NOT NULL"),
        )

    op.create_table(
        "outbox_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dedupe_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("partnership_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("occurred_at", cspr_engine.kit.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("outbox_events_case_id_fkey"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["partnership_id"],
            ["partnerships.id"],
            name=op.f("outbox_events_partnership_id_fkey"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("outbox_events_pkey")),
        sa.UniqueConstraint("dedupe_key", name=op.f("outbox_events_dedupe_key_key")),
    )
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", cspr_engine.kit.tables.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("lease_until", cspr_engine.kit.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", cspr_engine.kit.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", cspr_engine.kit.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["outbox_events.id"],
            name=op.f("alert_deliveries_event_id_fkey"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("alert_deliveries_pkey")),
        sa.UniqueConstraint(
            "event_id",
            "channel",
            "target",
            name=op.f("alert_deliveries_event_id_channel_target_key"),
        ),
    )
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alert_deliveries_due",
            ["next_attempt_at"],
            unique=False,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )
        batch_op.create_index(
            batch_op.f("ix_alert_deliveries_event_id"), ["event_id"], unique=False
        )

    op.create_table(
        "alert_recipients",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("partnership_id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", cspr_engine.kit.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["outbox_events.id"],
            name=op.f("alert_recipients_event_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partnership_id"],
            ["partnerships.id"],
            name=op.f("alert_recipients_partnership_id_fkey"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("event_id", "role", name=op.f("alert_recipients_pkey")),
    )
    with op.batch_alter_table("alert_recipients", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alert_recipients_inbox",
            ["partnership_id", "role", "occurred_at", "event_id"],
            unique=False,
        )

    op.create_table(
        "deadline_extensions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("deadline_id", sa.Uuid(), nullable=False),
        sa.Column("previous_due_on", sa.Date(), nullable=False),
        sa.Column("new_due_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("agreed_with", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("at", cspr_engine.kit.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deadline_id"],
            ["deadlines.id"],
            name=op.f("deadline_extensions_deadline_id_fkey"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("deadline_extensions_pkey")),
    )
    with op.batch_alter_table("deadline_extensions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deadline_extensions_deadline_id"), ["deadline_id"], unique=False
        )

    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", cspr_engine.kit.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["alert_deliveries.id"],
            name=op.f("delivery_attempts_delivery_id_fkey"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("delivery_attempts_pkey")),
    )
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_delivery_attempts_delivery_id"), ["delivery_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_attempts_delivery_id"))

    op.drop_table("delivery_attempts")
    with op.batch_alter_table("deadline_extensions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deadline_extensions_deadline_id"))

    op.drop_table("deadline_extensions")
    with op.batch_alter_table("alert_recipients", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_recipients_inbox")

    op.drop_table("alert_recipients")
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_deliveries_event_id"))
        batch_op.drop_index(
            "ix_alert_deliveries_due",
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )

    op.drop_table("alert_deliveries")
    op.drop_table("outbox_events")
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_deadlines_next_rung_at",
            postgresql_where=sa.text("next_rung_at IS NOT NULL"),
            sqlite_where=sa.text("next_rung_at IS NOT NULL"),
        )
        batch_op.drop_index("ix_deadlines_case_id")

    op.drop_table("deadlines")
    with op.batch_alter_table("webhook_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_subscriptions_partnership_id"))

    op.drop_table("webhook_subscriptions")
    with op.batch_alter_table("calendar_additions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calendar_additions_day"))

    op.drop_table("calendar_additions")
