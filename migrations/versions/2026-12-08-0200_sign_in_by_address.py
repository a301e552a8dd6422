"""Sign-in attempts: failures are counted by address too.

The backoff counts failures for an e-mail from one address, and failures from one address for
any e-mail; the second count reads (client, at).

Revision ID: 9d41c7e2b6a3
Revises: e4fe530cf9fc
Create Date: 2026-12-08 02:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "9d41c7e2b6a3"
down_revision: str | None = "e4fe530cf9fc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_sign_in_attempts_client_at", "sign_in_attempts", ["client", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_sign_in_attempts_client_at", table_name="sign_in_attempts")
