"""Paper broker book: accounts, orders, fills and net positions of the simulated venue.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "paper_accounts",
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("order_seq", sa.Integer(), nullable=False),
        sa.Column("fill_seq", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account", name=op.f("pk_paper_accounts")),
    )

    op.create_table(
        "paper_orders",
        sa.Column("broker_order_id", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("order", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING_SUBMIT",
                "SUBMITTED",
                "PARTIALLY_FILLED",
                "FILLED",
                "CANCELLED",
                "REJECTED",
                name="order_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("filled_quantity", sa.Integer(), nullable=False),
        sa.Column("avg_fill_price", sa.Double(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account"],
            ["paper_accounts.account"],
            name=op.f("fk_paper_orders_account_paper_accounts"),
        ),
        sa.PrimaryKeyConstraint("broker_order_id", name=op.f("pk_paper_orders")),
        sa.UniqueConstraint("account", "client_order_id", name="uq_paper_orders_account_client"),
    )
    with op.batch_alter_table("paper_orders", schema=None) as batch_op:
        batch_op.create_index("ix_paper_orders_account_status", ["account", "status"], unique=False)

    op.create_table(
        "paper_fills",
        sa.Column("fill_id", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("broker_order_id", sa.String(length=64), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column(
            "side",
            sa.Enum(
                "BUY", "SELL", name="side", native_enum=False, create_constraint=True, length=16
            ),
            nullable=False,
        ),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("price", sa.Double(), nullable=False),
        sa.Column("commission", sa.Double(), nullable=False),
        sa.Column("filled_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account"],
            ["paper_accounts.account"],
            name=op.f("fk_paper_fills_account_paper_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["broker_order_id"],
            ["paper_orders.broker_order_id"],
            name=op.f("fk_paper_fills_broker_order_id_paper_orders"),
        ),
        sa.PrimaryKeyConstraint("fill_id", name=op.f("pk_paper_fills")),
    )
    with op.batch_alter_table("paper_fills", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_paper_fills_broker_order_id"), ["broker_order_id"], unique=False
        )

    op.create_table(
        "paper_positions",
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("contract_key", sa.String(length=96), nullable=False),
        sa.Column("contract", sa.JSON(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("avg_price", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account"],
            ["paper_accounts.account"],
            name=op.f("fk_paper_positions_account_paper_accounts"),
        ),
        sa.PrimaryKeyConstraint("account", "contract_key", name=op.f("pk_paper_positions")),
    )


def downgrade() -> None:
    op.drop_table("paper_positions")

    with op.batch_alter_table("paper_fills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_paper_fills_broker_order_id"))
    op.drop_table("paper_fills")

    with op.batch_alter_table("paper_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_paper_orders_account_status")
    op.drop_table("paper_orders")

    op.drop_table("paper_accounts")
