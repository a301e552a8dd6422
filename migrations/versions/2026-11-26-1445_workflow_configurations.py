"""Partnership configuration: each partnership's choices among the rules its workflows mark
configurable, one row per version; cases and clocks record the version they count by.

Revision ID: e4fe530cf9fc
Revises: 5b8e2c41d7a9
Create Date: 2026-11-26 14:45:09.234408
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

import cspr_engine.kit.tables

revision: str = "e4fe530cf9fc"
down_revision: str | None = "5b8e2c41d7a9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workflow_configurations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partnership_id", sa.Uuid(), nullable=False),
        sa.Column("workflow", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "values",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", cspr_engine.kit.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("workflow_configurations_created_by_fkey"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["partnership_id"],
            ["partnerships.id"],
            name=op.f("workflow_configurations_partnership_id_fkey"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("workflow_configurations_pkey")),
        sa.UniqueConstraint(
            "partnership_id",
            "workflow",
            "version",
            name=op.f("workflow_configurations_partnership_id_workflow_version_key"),
        ),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("config_version", sa.Integer(), nullable=True))

    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("config_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.drop_column("config_version")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("config_version")

    op.drop_table("workflow_configurations")
