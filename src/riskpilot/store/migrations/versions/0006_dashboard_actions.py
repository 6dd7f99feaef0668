"""Operator actions taken through the dashboard (halt, resume, closes): who, when, what, how
it ended.

- ``dashboard_actions``: one row per action, written PENDING before the action acts and
  finished with its outcome (DONE, REFUSED, FAILED) and what it changed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dashboard_actions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operator", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "priority",
            sa.Enum("LOW", "MEDIUM", "HIGH", "CRITICAL", name="priority", native_enum=False, create_constraint=True,
                    length=16),
            nullable=True,
        ),
        sa.Column(
            "outcome",
            sa.Enum("PENDING", "DONE", "REFUSED", "FAILED", name="action_outcome", native_enum=False,
                    create_constraint=True, length=16),
            nullable=False,
        ),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_actions")),
    )
    with op.batch_alter_table("dashboard_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dashboard_actions_requested_at"), ["requested_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dashboard_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dashboard_actions_requested_at"))
    op.drop_table("dashboard_actions")
