"""One monitor per account, alerts as an outbox, partial-exit stages on their exits.

- ``monitor_leases``: one row per account naming the monitor that holds it (host, pid,
  command, broker, clock), when it took it, its last heartbeat and when the lease expires,
  when it was released, the monitor's clock at its last cycle and whether its broker was
  connected. A second monitor refuses while the lease is held.
- ``alerts.dedupe_key``: an alert written by the store in the transaction of the change it
  reports (``exit_executed:<exit id>`` with the fill that completes an exit) carries a unique
  key, so raising it again delivers that row instead of writing a second one.
- ``position_exits.stage``: the partial-exit stage an exit works; the fill that fills it marks
  the stage done in the same transaction.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from riskpilot.store.types import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "monitor_leases",
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("holder_id", sa.String(64), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("command", sa.String(128), nullable=True),
        sa.Column("broker", sa.String(32), nullable=True),
        sa.Column("clock", sa.String(16), nullable=False),
        sa.Column("acquired_at", UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("released_at", UTCDateTime(), nullable=True),
        sa.Column("last_cycle_at", UTCDateTime(), nullable=True),
        sa.Column("broker_connected", sa.Boolean(), nullable=True),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dedupe_key", sa.String(96), nullable=True))
        batch_op.create_unique_constraint("uq_alerts_dedupe_key", ["dedupe_key"])
    with op.batch_alter_table("position_exits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stage", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("position_exits", schema=None) as batch_op:
        batch_op.drop_column("stage")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_alerts_dedupe_key", type_="unique")
        batch_op.drop_column("dedupe_key")
    op.drop_table("monitor_leases")
