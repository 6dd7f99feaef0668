"""Event-contract legs: a position leg may be one side of a binary event market.

``position_legs`` gains ``contract_kind`` (``option`` for every existing row, or ``event``)
and the event columns ``series``, ``event``, ``market_ticker``, ``side`` (YES/NO),
``close_time`` and ``settlement_time``; the option columns ``strike``, ``right`` and
``expiry_time`` become nullable, and a CHECK constraint (``contract_columns``) keeps each
kind's columns filled and the other kind's empty (an event leg has multiplier 1).
``underlying`` widens to 64 characters here and on ``positions``: an event leg's underlying is
its event ticker (``KXHIGHNY-26DEC02``), which can be longer than a stock symbol.

Downgrading refuses while event legs are stored: the older schema cannot hold them (close or
delete those positions first).

Revision ID: 0005
Revises: 0004 (was 0003 before the lease landed; the lead renumbers at merge)
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As riskpilot.store.models.LEG_KIND_CHECK at this revision (a migration keeps its own copy:
# the model may change later, the revision may not).
LEG_KIND_CHECK = (
    "(contract_kind = 'option' AND strike IS NOT NULL AND \"right\" IS NOT NULL AND expiry_time IS NOT NULL"
    " AND market_ticker IS NULL AND side IS NULL)"
    " OR (contract_kind = 'event' AND series IS NOT NULL AND event IS NOT NULL AND market_ticker IS NOT NULL"
    " AND side IS NOT NULL AND close_time IS NOT NULL AND settlement_time IS NOT NULL AND strike IS NULL"
    " AND \"right\" IS NULL AND expiry_time IS NULL AND multiplier = 1)"
)

_RIGHT = sa.Enum("CALL", "PUT", name="option_right", native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.alter_column("underlying", existing_type=sa.String(length=32), type_=sa.String(length=64),
                              existing_nullable=False)
    with op.batch_alter_table("position_legs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contract_kind", sa.String(length=8), nullable=False, server_default="option"))
        batch_op.alter_column("underlying", existing_type=sa.String(length=32), type_=sa.String(length=64),
                              existing_nullable=False)
        batch_op.alter_column("strike", existing_type=sa.Double(), nullable=True)
        batch_op.alter_column("right", existing_type=_RIGHT, nullable=True)
        batch_op.alter_column("expiry_time", existing_type=sa.Time(), nullable=True)
        batch_op.add_column(sa.Column("series", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("event", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("market_ticker", sa.String(length=96), nullable=True))
        batch_op.add_column(sa.Column("side", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("close_time", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("settlement_time", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint("contract_side", "side IN ('YES', 'NO')")
        batch_op.create_check_constraint("contract_columns", LEG_KIND_CHECK)


def downgrade() -> None:
    bind = op.get_bind()
    events = bind.execute(sa.text("SELECT COUNT(*) FROM position_legs WHERE contract_kind = 'event'")).scalar()
    if events:
        raise RuntimeError(
            f"cannot downgrade below revision 0005: the store holds {events} event-contract legs, which the "
            "older schema cannot represent; close or delete those positions first"
        )
    with op.batch_alter_table("position_legs", schema=None) as batch_op:
        batch_op.drop_constraint("contract_columns", type_="check")
        batch_op.drop_constraint("contract_side", type_="check")
        batch_op.drop_column("settlement_time")
        batch_op.drop_column("close_time")
        batch_op.drop_column("side")
        batch_op.drop_column("market_ticker")
        batch_op.drop_column("event")
        batch_op.drop_column("series")
        batch_op.alter_column("expiry_time", existing_type=sa.Time(), nullable=False)
        batch_op.alter_column("right", existing_type=_RIGHT, nullable=False)
        batch_op.alter_column("strike", existing_type=sa.Double(), nullable=False)
        batch_op.alter_column("underlying", existing_type=sa.String(length=64), type_=sa.String(length=32),
                              existing_nullable=False)
        batch_op.drop_column("contract_kind")
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.alter_column("underlying", existing_type=sa.String(length=64), type_=sa.String(length=32),
                              existing_nullable=False)
