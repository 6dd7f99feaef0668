"""The broker account a store belongs to (issue 12: live trading on Interactive Brokers).

- ``broker_accounts``: one row per broker naming the account the store's positions belong to,
  when it was bound and by which command. A live monitor or an adoption against another
  account of that broker is refused.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from riskpilot.store.types import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "broker_accounts",
        sa.Column("broker", sa.String(16), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("bound_at", UTCDateTime(), nullable=False),
        sa.Column("bound_by", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("broker", name=op.f("pk_broker_accounts")),
    )


def downgrade() -> None:
    op.drop_table("broker_accounts")
