"""Core schema: methods, positions and legs, order intents, orders, fills, exits and
exit attempts, trailing-stop state, alerts, daily P&L, the trading state and runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 20:19:45.650744
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "level",
            sa.Enum(
                "INFO",
                "WARNING",
                "CRITICAL",
                name="alert_level",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("position_id", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_position_id"), ["position_id"], unique=False)

    op.create_table(
        "daily_pnl",
        sa.Column("trade_date", sa.Date(), nullable=False),
        sa.Column("realized_pnl", sa.Double(), nullable=False),
        sa.Column("unrealized_pnl", sa.Double(), nullable=False),
        sa.Column("commissions", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("trade_date", name=op.f("pk_daily_pnl")),
    )

    op.create_table(
        "methods",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("config", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_methods")),
        sa.UniqueConstraint("name", name=op.f("uq_methods_name")),
    )

    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("command", sa.String(length=128), nullable=True),
        sa.Column("config_text", sa.Text(), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )

    trading_state = op.create_table(
        "trading_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "ACTIVE",
                "REDUCING",
                "HALTED",
                name="trading_state",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_trading_state_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trading_state")),
    )
    # The gate starts open; the single row is then only ever updated.
    op.bulk_insert(
        trading_state,
        [
            {
                "id": 1,
                "state": "ACTIVE",
                "reason": "initial state",
                "changed_at": datetime(2000, 1, 1, tzinfo=UTC),
            }
        ],
    )

    op.create_table(
        "positions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("underlying", sa.String(length=32), nullable=False),
        sa.Column(
            "premium_type",
            sa.Enum(
                "CREDIT",
                "DEBIT",
                name="premium_type",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("entry_premium", sa.Double(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("original_quantity", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "OPEN",
                "CLOSING",
                "CLOSED",
                name="position_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("realized_pnl", sa.Double(), nullable=False),
        sa.Column("commissions", sa.Double(), nullable=False),
        sa.Column("current_price", sa.Double(), nullable=True),
        sa.Column("unrealized_pnl", sa.Double(), nullable=True),
        sa.Column("unrealized_pnl_pct", sa.Double(), nullable=True),
        sa.Column("last_update", sa.DateTime(timezone=True), nullable=True),
        sa.Column("trailing_stop_active", sa.Boolean(), nullable=False),
        sa.Column("peak_price", sa.Double(), nullable=False),
        sa.Column("trough_price", sa.Double(), nullable=False),
        sa.Column("trailing_stop_price", sa.Double(), nullable=True),
        sa.Column("exit_reason", sa.Text(), nullable=True),
        sa.Column(
            "exit_priority",
            sa.Enum(
                "LOW",
                "MEDIUM",
                "HIGH",
                "CRITICAL",
                name="priority",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("mfe", sa.Double(), nullable=False),
        sa.Column("mae", sa.Double(), nullable=False),
        sa.Column("days_held", sa.Integer(), nullable=False),
        sa.Column("stages_done", sa.JSON(), nullable=False),
        sa.CheckConstraint("entry_premium > 0", name=op.f("ck_positions_entry_premium_positive")),
        sa.CheckConstraint(
            "original_quantity >= 1", name=op.f("ck_positions_original_quantity_positive")
        ),
        sa.CheckConstraint(
            "quantity <= original_quantity", name=op.f("ck_positions_quantity_le_original")
        ),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_positions_quantity_non_negative")),
        sa.ForeignKeyConstraint(
            ["method"], ["methods.name"], name=op.f("fk_positions_method_methods")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
    )
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_positions_method"), ["method"], unique=False)
        batch_op.create_index("ix_positions_status", ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_positions_underlying"), ["underlying"], unique=False)

    op.create_table(
        "order_intents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("position_id", sa.String(length=64), nullable=True),
        sa.Column(
            "purpose",
            sa.Enum(
                "OPEN",
                "CLOSE",
                name="order_purpose",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "side",
            sa.Enum(
                "BUY", "SELL", name="side", native_enum=False, create_constraint=True, length=16
            ),
            nullable=False,
        ),
        sa.Column(
            "order_type",
            sa.Enum(
                "MARKET",
                "LIMIT",
                name="order_type",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("limit_price", sa.Double(), nullable=True),
        sa.Column("legs", sa.JSON(), nullable=False),
        sa.Column("tactic", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["position_id"], ["positions.id"], name=op.f("fk_order_intents_position_id_positions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_intents")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_order_intents_client_order_id")),
    )
    with op.batch_alter_table("order_intents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_order_intents_position_id"), ["position_id"], unique=False
        )

    op.create_table(
        "position_exits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("position_id", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "priority",
            sa.Enum(
                "LOW",
                "MEDIUM",
                "HIGH",
                "CRITICAL",
                name="priority",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("is_partial", sa.Boolean(), nullable=False),
        sa.Column("tactic", sa.String(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "WORKING",
                "EXECUTED",
                "FAILED",
                name="exit_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("filled_quantity", sa.Integer(), nullable=False),
        sa.Column("fill_price", sa.Double(), nullable=True),
        sa.Column("unrealized_pnl_at_trigger", sa.Double(), nullable=True),
        sa.Column("triggered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["position_id"], ["positions.id"], name=op.f("fk_position_exits_position_id_positions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_position_exits")),
    )
    with op.batch_alter_table("position_exits", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_position_exits_position_id"), ["position_id"], unique=False
        )

    op.create_table(
        "position_legs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("position_id", sa.String(length=64), nullable=False),
        sa.Column("leg_index", sa.Integer(), nullable=False),
        sa.Column("underlying", sa.String(length=32), nullable=False),
        sa.Column("expiration", sa.Date(), nullable=False),
        sa.Column("strike", sa.Double(), nullable=False),
        sa.Column(
            "right",
            sa.Enum(
                "CALL",
                "PUT",
                name="option_right",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("multiplier", sa.Integer(), nullable=False),
        sa.Column("expiry_time", sa.Time(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity <> 0", name=op.f("ck_position_legs_quantity_non_zero")),
        sa.ForeignKeyConstraint(
            ["position_id"],
            ["positions.id"],
            name=op.f("fk_position_legs_position_id_positions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_position_legs")),
        sa.UniqueConstraint("position_id", "leg_index", name="uq_position_legs_position_leg"),
    )
    with op.batch_alter_table("position_legs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_position_legs_position_id"), ["position_id"], unique=False
        )

    op.create_table(
        "trailing_stop_states",
        sa.Column("position_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["position_id"],
            ["positions.id"],
            name=op.f("fk_trailing_stop_states_position_id_positions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("position_id", name=op.f("pk_trailing_stop_states")),
    )

    op.create_table(
        "exit_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("exit_id", sa.Integer(), nullable=False),
        sa.Column("attempt_no", sa.Integer(), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column(
            "order_type",
            sa.Enum(
                "MARKET",
                "LIMIT",
                name="order_type",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("limit_price", sa.Double(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
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
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["exit_id"], ["position_exits.id"], name=op.f("fk_exit_attempts_exit_id_position_exits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exit_attempts")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_exit_attempts_client_order_id")),
        sa.UniqueConstraint("exit_id", "attempt_no", name="uq_exit_attempts_exit_no"),
    )
    with op.batch_alter_table("exit_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_exit_attempts_exit_id"), ["exit_id"], unique=False)

    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("broker_order_id", sa.String(length=64), nullable=True),
        sa.Column("position_id", sa.String(length=64), nullable=True),
        sa.Column(
            "purpose",
            sa.Enum(
                "OPEN",
                "CLOSE",
                name="order_purpose",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "side",
            sa.Enum(
                "BUY", "SELL", name="side", native_enum=False, create_constraint=True, length=16
            ),
            nullable=False,
        ),
        sa.Column(
            "order_type",
            sa.Enum(
                "MARKET",
                "LIMIT",
                name="order_type",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("limit_price", sa.Double(), nullable=True),
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
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "filled_quantity <= quantity", name=op.f("ck_orders_filled_le_quantity")
        ),
        sa.CheckConstraint("filled_quantity >= 0", name=op.f("ck_orders_filled_non_negative")),
        sa.ForeignKeyConstraint(
            ["client_order_id"],
            ["order_intents.client_order_id"],
            name=op.f("fk_orders_client_order_id_order_intents"),
        ),
        sa.ForeignKeyConstraint(
            ["position_id"], ["positions.id"], name=op.f("fk_orders_position_id_positions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_orders_client_order_id")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_position_id"), ["position_id"], unique=False)

    op.create_table(
        "fills",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("fill_id", sa.String(length=64), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("position_id", sa.String(length=64), nullable=True),
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
            ["client_order_id"],
            ["orders.client_order_id"],
            name=op.f("fk_fills_client_order_id_orders"),
        ),
        sa.ForeignKeyConstraint(
            ["position_id"], ["positions.id"], name=op.f("fk_fills_position_id_positions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
        sa.UniqueConstraint("fill_id", name=op.f("uq_fills_fill_id")),
    )
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fills_client_order_id"), ["client_order_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_fills_position_id"), ["position_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fills_position_id"))
        batch_op.drop_index(batch_op.f("ix_fills_client_order_id"))
    op.drop_table("fills")

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_position_id"))
    op.drop_table("orders")

    with op.batch_alter_table("exit_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exit_attempts_exit_id"))
    op.drop_table("exit_attempts")

    op.drop_table("trailing_stop_states")

    with op.batch_alter_table("position_legs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_position_legs_position_id"))
    op.drop_table("position_legs")

    with op.batch_alter_table("position_exits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_position_exits_position_id"))
    op.drop_table("position_exits")

    with op.batch_alter_table("order_intents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_intents_position_id"))
    op.drop_table("order_intents")

    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_positions_underlying"))
        batch_op.drop_index("ix_positions_status")
        batch_op.drop_index(batch_op.f("ix_positions_method"))
    op.drop_table("positions")

    op.drop_table("trading_state")

    op.drop_table("runs")

    op.drop_table("methods")

    op.drop_table("daily_pnl")

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_position_id"))
        batch_op.drop_index(batch_op.f("ix_alerts_created_at"))
    op.drop_table("alerts")
