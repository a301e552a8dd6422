"""Calendar additions: why a withdrawn day was withdrawn.

A day added to the national calendar can be withdrawn by a platform administrator, with the
reason, which is kept beside who withdrew it and when.

Revision ID: 2f6b8d0c5a17
Revises: 9d41c7e2b6a3
Create Date: 2026-12-08 02:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2f6b8d0c5a17"
down_revision: str | None = "9d41c7e2b6a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calendar_additions") as batch:
        batch.add_column(sa.Column("withdrawn_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calendar_additions") as batch:
        batch.drop_column("withdrawn_reason")
