"""Calendar feeds: each user's revocable iCalendar subscriptions (only the secret's hash kept).

Revision ID: f7c3a91d2e04
Revises: 028e0bd78bfc
Create Date: 2026-11-26 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import cspr_engine.kit.tables

revision: str = "f7c3a91d2e04"
down_revision: str | None = "028e0bd78bfc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar_feeds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", cspr_engine.kit.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", cspr_engine.kit.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", cspr_engine.kit.tables.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("calendar_feeds_user_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("calendar_feeds_pkey")),
        sa.UniqueConstraint("token_hash", name=op.f("calendar_feeds_token_hash_key")),
    )
    with op.batch_alter_table("calendar_feeds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_calendar_feeds_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("calendar_feeds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calendar_feeds_user_id"))

    op.drop_table("calendar_feeds")
