"""Cases: a partnership's list by state walks one index in date order.

(partnership_id, state) left the newest-first order to a sort of every case of the state; at
1M cases a partnership's closed cases (about 4,000) were fetched and sorted for each page.
(partnership_id, state, created_at, id) serves the same lookups and the order with them.

Revision ID: 5b8e2c41d7a9
Revises: f7c3a91d2e04
Create Date: 2026-11-26 14:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5b8e2c41d7a9"
down_revision: str | None = "f7c3a91d2e04"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_cases_partnership_state_created",
        "cases",
        ["partnership_id", "state", "created_at", "id"],
        unique=False,
    )
    op.drop_index("ix_cases_partnership_state", table_name="cases")


def downgrade() -> None:
    op.create_index(
        "ix_cases_partnership_state", "cases", ["partnership_id", "state"], unique=False
    )
    op.drop_index("ix_cases_partnership_state_created", table_name="cases")
