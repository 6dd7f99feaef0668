"""Alert delivery outcome and the circuit breaker's day.

- ``alerts.delivery_error``: why the last delivery attempt failed (NULL when it was delivered
  or not yet tried); ``alerts.delivery_attempts``: how many times delivery was tried. A failed
  delivery is kept on the row, never dropped.
- ``trading_state.halted_on``: the exchange date of a circuit-breaker halt (the halt lifts when
  that day has rolled); NULL for a manual halt, which lasts until a manual resume.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivery_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("delivery_attempts", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("trading_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("halted_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trading_state", schema=None) as batch_op:
        batch_op.drop_column("halted_on")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("delivery_attempts")
        batch_op.drop_column("delivery_error")
