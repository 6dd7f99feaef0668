"""Applying one fill, once: the fill row, its order, position, exit and attempt, and the day's
P&L, in one transaction (one statement on PostgreSQL)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, literal, select, text, update
from sqlalchemy.orm import Session

from riskpilot.model.enums import (
    PositionStatus,
    PremiumType,
    Side,
)
from riskpilot.model.order import Fill, Order, OrderPurpose
from riskpilot.model.position import premium_sign
from riskpilot.model.status import OrderStatus
from riskpilot.store.models import (
    AlertLevel,
    AlertRow,
    ExitAttemptRow,
    ExitStatus,
    OrderIntentRow,
    PositionExitRow,
    PositionRow,
)
from riskpilot.store.records import (
    DuplicateError,
    InvariantError,
    NotFoundError,
)
from riskpilot.store.rows import (
    realized_pnl,
    table_of,
    utc,
)
from riskpilot.store.serialize import leg_to_dict


def check_fill(fill: Fill, order: Any) -> None:
    """Refuse a fill that its (locked) order does not allow, naming the problem. ``order``
    carries ``side``, ``quantity``, ``filled_quantity``, ``position_id`` and ``multiplier``,
    and on PostgreSQL also ``purpose`` and ``pos_qty`` (the position's open units)."""
    side = Side(order.side)
    if fill.side is not side:
        raise InvariantError(
            f"fill {fill.fill_id!r} is a {fill.side.value} but order {fill.client_order_id!r} is a {side.value}"
        )
    if order.filled_quantity + fill.quantity > order.quantity:
        raise InvariantError(
            f"fill {fill.fill_id!r} of {fill.quantity} overfills order "
            f"{fill.client_order_id!r} ({order.filled_quantity} of {order.quantity} filled)"
        )
    position_id = order.position_id
    if fill.position_id is not None and position_id is not None and fill.position_id != position_id:
        raise InvariantError(
            f"fill {fill.fill_id!r} names position {fill.position_id!r} but its order belongs to {position_id!r}"
        )
    if position_id is None or not hasattr(order, "pos_qty"):
        return  # SQLite: the position's own checks run in its UPDATE
    if order.pos_qty is None:
        raise NotFoundError(f"position {position_id!r} is not in the store")
    if order.multiplier is None:
        raise InvariantError(f"position {position_id!r} has no legs in the store")
    if OrderPurpose(order.purpose) is OrderPurpose.CLOSE and order.pos_qty < fill.quantity:
        raise InvariantError(
            f"fill {fill.fill_id!r} closes {fill.quantity} but position {position_id!r} has {order.pos_qty} open"
        )


#: The P&L sign of :func:`riskpilot.model.position.premium_sign` as a SQL expression over the
#: position's premium type (enum columns hold names), generated from it rather than written twice.
_SQL_SIGN = (
    "(CASE k0.premium_type "
    + " ".join(f"WHEN '{pt.name}' THEN {premium_sign(pt):.1f}" for pt in PremiumType)
    + " END)"
)


#: The whole of a fill on PostgreSQL, in one statement run as its own transaction
#: (autocommit): one round trip plus the commit. Every row it reads and then changes is
#: locked first (order, position, exit: ``FOR UPDATE`` in READ COMMITTED returns the latest
#: committed version), the checks are evaluated once into ``k.ok``, and every write hangs
#: off ``ins`` (the fill row, ``ON CONFLICT (fill_id) DO NOTHING``), so a refused or
#: duplicate fill writes nothing. The final row returns what the caller needs and, when
#: ``ok`` is false, the values :func:`check_fill` uses to name the problem. Enum columns
#: hold enum *names*; prices are per share, realized P&L and commissions dollars.
FILL_SQL = text(
    """
WITH o AS (
    SELECT o.id, o.side, o.quantity, o.filled_quantity, o.avg_fill_price, o.position_id,
           o.purpose, a.id AS attempt_id, a.exit_id
    FROM orders AS o
    LEFT JOIN exit_attempts AS a ON a.client_order_id = o.client_order_id
    WHERE o.client_order_id = CAST(:coid AS VARCHAR)
    FOR UPDATE OF o
),
p AS (
    SELECT p.quantity, p.status, p.premium_type, p.entry_premium,
           (SELECT l.multiplier FROM position_legs AS l
            WHERE l.position_id = p.id AND l.leg_index = 0) AS multiplier
    FROM positions AS p
    WHERE p.id = (SELECT position_id FROM o)
    FOR UPDATE
),
e AS (
    SELECT x.quantity, x.filled_quantity, x.fill_price, x.stage, x.tactic, x.priority
    FROM position_exits AS x
    WHERE x.id = (SELECT exit_id FROM o)
    FOR UPDATE
),
k0 AS (
    SELECT o.*, p.quantity AS pos_qty, p.status AS pos_status, p.premium_type,
           p.entry_premium, p.multiplier,
           e.quantity AS exit_qty, e.filled_quantity AS exit_filled, e.fill_price AS exit_price,
           e.stage AS exit_stage, e.tactic AS exit_tactic, e.priority AS exit_priority,
           EXISTS (SELECT 1 FROM fills WHERE fill_id = CAST(:fid AS VARCHAR)) AS known,
           o.filled_quantity + CAST(:qty AS INTEGER) AS new_filled
    FROM o LEFT JOIN p ON TRUE LEFT JOIN e ON TRUE
),
k AS (
    SELECT k0.*,
        (NOT k0.known
         AND k0.side = CAST(:side AS VARCHAR)
         AND k0.new_filled <= k0.quantity
         AND (CAST(:fpos AS VARCHAR) IS NULL OR k0.position_id IS NULL
              OR k0.position_id = CAST(:fpos AS VARCHAR))
         AND (k0.position_id IS NULL
              OR (k0.pos_qty IS NOT NULL AND k0.multiplier IS NOT NULL
                  AND (k0.purpose = 'OPEN' OR k0.pos_qty >= CAST(:qty AS INTEGER))))
        ) AS ok,
        CASE WHEN k0.new_filled = k0.quantity THEN 'FILLED' ELSE 'PARTIALLY_FILLED' END
            AS new_status,
        CASE WHEN k0.purpose = 'CLOSE' AND k0.pos_qty IS NOT NULL THEN
            """ + _SQL_SIGN + """ * (CAST(:price AS DOUBLE PRECISION) - k0.entry_premium)
            * k0.multiplier * CAST(:qty AS INTEGER)
        ELSE 0.0 END AS realized,
        (k0.purpose = 'CLOSE' AND k0.position_id IS NOT NULL AND k0.attempt_id IS NOT NULL
         AND k0.exit_filled + CAST(:qty AS INTEGER) >= k0.exit_qty) AS exit_done,
        (COALESCE(k0.exit_price, 0.0) * k0.exit_filled
         + CAST(:price AS DOUBLE PRECISION) * CAST(:qty AS INTEGER))
        / NULLIF(k0.exit_filled + CAST(:qty AS INTEGER), 0) AS exit_new_price
    FROM k0
),
ins AS (
    INSERT INTO fills (fill_id, client_order_id, position_id, side, quantity, price,
                       commission, filled_at)
    SELECT CAST(:fid AS VARCHAR), CAST(:coid AS VARCHAR), k.position_id, k.side,
           CAST(:qty AS INTEGER), CAST(:price AS DOUBLE PRECISION),
           CAST(:comm AS DOUBLE PRECISION), CAST(:at AS TIMESTAMPTZ)
    FROM k WHERE k.ok
    ON CONFLICT (fill_id) DO NOTHING
    RETURNING id
),
uo AS (
    UPDATE orders SET
        filled_quantity = k.new_filled,
        avg_fill_price = (COALESCE(k.avg_fill_price, 0.0) * k.filled_quantity
                          + CAST(:price AS DOUBLE PRECISION) * CAST(:qty AS INTEGER))
                         / k.new_filled,
        status = k.new_status,
        updated_at = CAST(:at AS TIMESTAMPTZ)
    FROM k, ins
    WHERE orders.id = k.id
),
up AS (
    UPDATE positions SET
        quantity = CASE WHEN k.purpose = 'CLOSE'
                        THEN positions.quantity - CAST(:qty AS INTEGER)
                        ELSE positions.quantity END,
        realized_pnl = positions.realized_pnl + k.realized,
        commissions = positions.commissions + CAST(:comm AS DOUBLE PRECISION),
        status = CASE
            WHEN k.purpose = 'OPEN' THEN
                CASE WHEN positions.status = 'PENDING' THEN 'OPEN' ELSE positions.status END
            WHEN positions.quantity - CAST(:qty AS INTEGER) = 0 THEN 'CLOSED'
            WHEN k.exit_done AND positions.status = 'CLOSING' THEN 'OPEN'
            ELSE positions.status END,
        closed_at = CASE WHEN k.purpose = 'CLOSE'
                              AND positions.quantity - CAST(:qty AS INTEGER) = 0
                         THEN CAST(:at AS TIMESTAMPTZ) ELSE positions.closed_at END,
        stages_done = CASE WHEN k.purpose = 'CLOSE' AND k.attempt_id IS NOT NULL AND k.exit_stage IS NOT NULL
                           THEN (SELECT json_agg(v ORDER BY v) FROM (
                                   SELECT jsonb_array_elements_text(
                                       COALESCE(positions.stages_done::jsonb, '[]'::jsonb)) AS v
                                   UNION SELECT k.exit_stage) AS st)
                           ELSE positions.stages_done END
    FROM k, ins
    WHERE positions.id = k.position_id
    RETURNING positions.quantity, positions.status
),
ua AS (
    UPDATE exit_attempts SET
        status = k.new_status, filled_quantity = k.new_filled,
        updated_at = CAST(:at AS TIMESTAMPTZ)
    FROM k, ins
    WHERE exit_attempts.id = k.attempt_id
),
ue AS (
    UPDATE position_exits SET
        filled_quantity = k.exit_filled + CAST(:qty AS INTEGER),
        fill_price = k.exit_new_price,
        status = CASE WHEN k.exit_done THEN 'EXECUTED' ELSE position_exits.status END,
        executed_at = CASE WHEN k.exit_done THEN CAST(:at AS TIMESTAMPTZ)
                           ELSE position_exits.executed_at END
    FROM k, ins
    WHERE position_exits.id = k.exit_id AND k.purpose = 'CLOSE' AND k.position_id IS NOT NULL
),
ual AS (
    INSERT INTO alerts (created_at, level, kind, position_id, message, payload, delivered_at,
                        delivery_attempts, dedupe_key)
    SELECT CAST(:at AS TIMESTAMPTZ), 'INFO', 'exit_executed', k.position_id,
           format('exit of %s filled: %s at %s with %s', k.position_id,
                  k.exit_filled + CAST(:qty AS INTEGER),
                  to_char(k.exit_new_price, 'FM9999999990.0000'), k.exit_tactic),
           json_build_object('position_id', k.position_id, 'exit_id', k.exit_id,
                             'priority', k.exit_priority, 'tactic', k.exit_tactic,
                             'fill_price', k.exit_new_price,
                             'filled_quantity', k.exit_filled + CAST(:qty AS INTEGER)),
           NULL, 0, 'exit_executed:' || k.exit_id
    FROM k, ins
    WHERE k.exit_done
    ON CONFLICT (dedupe_key) DO NOTHING
),
ud AS (
    INSERT INTO daily_pnl (trade_date, realized_pnl, unrealized_pnl, commissions, updated_at)
    SELECT CAST(:day AS DATE), k.realized, 0.0, CAST(:comm AS DOUBLE PRECISION),
           CAST(:at AS TIMESTAMPTZ)
    FROM k, ins
    ON CONFLICT (trade_date) DO UPDATE SET
        realized_pnl = daily_pnl.realized_pnl + EXCLUDED.realized_pnl,
        commissions = daily_pnl.commissions + EXCLUDED.commissions,
        updated_at = EXCLUDED.updated_at
)
SELECT k.side, k.quantity, k.filled_quantity, k.position_id, k.purpose, k.attempt_id,
       k.exit_id, k.multiplier, k.pos_qty, k.known, k.ok, k.new_status, k.realized,
       EXISTS (SELECT 1 FROM ins) AS applied,
       up.quantity AS new_pos_qty, up.status AS new_pos_status
FROM k LEFT JOIN up ON TRUE
"""
)


def apply_fill_to_position(
    s: Session,
    position_id: str,
    fill: Fill,
    purpose: OrderPurpose,
    mult: int,
    at: datetime,
) -> tuple[int, PositionStatus, float]:
    """Update the position for one fill in a single UPDATE ... RETURNING (the row is locked
    by the update). Returns its new quantity, status and the dollars realized."""
    pt = table_of(PositionRow)
    status_type = pt.c.status.type
    if purpose is OrderPurpose.OPEN:
        row = s.execute(
            update(pt)
            .where(pt.c.id == position_id)
            .values(
                commissions=pt.c.commissions + fill.commission,
                status=case(
                    (pt.c.status == PositionStatus.PENDING, literal(PositionStatus.OPEN, status_type)),
                    else_=pt.c.status,
                ),
            )
            .returning(pt.c.quantity, pt.c.status)
        ).one_or_none()
        if row is None:
            raise NotFoundError(f"position {position_id!r} is not in the store")
        return row.quantity, row.status, 0.0
    sign = case({pt_: premium_sign(pt_) for pt_ in PremiumType}, value=pt.c.premium_type)
    per_share = sign * (literal(fill.price) - pt.c.entry_premium)
    left = pt.c.quantity - fill.quantity
    row = s.execute(
        update(pt)
        .where(pt.c.id == position_id, pt.c.quantity >= fill.quantity)
        .values(
            quantity=left,
            realized_pnl=pt.c.realized_pnl + per_share * mult * fill.quantity,
            commissions=pt.c.commissions + fill.commission,
            status=case((left == 0, literal(PositionStatus.CLOSED, status_type)), else_=pt.c.status),
            closed_at=case((left == 0, literal(at, pt.c.closed_at.type)), else_=pt.c.closed_at),
        )
        .returning(pt.c.quantity, pt.c.status, pt.c.premium_type, pt.c.entry_premium)
    ).one_or_none()
    if row is None:
        have = s.execute(select(pt.c.quantity).where(pt.c.id == position_id)).scalar_one_or_none()
        if have is None:
            raise NotFoundError(f"position {position_id!r} is not in the store")
        raise InvariantError(
            f"fill {fill.fill_id!r} closes {fill.quantity} but position {position_id!r} has {have} open"
        )
    realized = realized_pnl(row.premium_type, row.entry_premium, fill.price, fill.quantity, mult)
    return row.quantity, row.status, realized


def add_intent(s: Session, order: Order, tactic: str | None) -> None:
    q = select(OrderIntentRow.id).where(OrderIntentRow.client_order_id == order.client_order_id)
    if s.execute(q).first() is not None:
        raise DuplicateError(
            f"an intent for order {order.client_order_id!r} is already stored; re-send the "
            "existing order (same client order id) instead of recording a new intent"
        )
    s.add(
        OrderIntentRow(
            client_order_id=order.client_order_id,
            position_id=order.position_id,
            purpose=order.purpose,
            side=order.side,
            order_type=order.order_type,
            quantity=order.quantity,
            limit_price=order.limit_price,
            legs=[leg_to_dict(leg) for leg in order.legs],
            tactic=tactic,
            created_at=utc(order.created_at, "order created_at"),
        )
    )
    s.flush()


def sync_attempt(s: Session, client_order_id: str, status: OrderStatus, filled: int | None, at: datetime) -> None:
    att = s.execute(
        select(ExitAttemptRow).where(ExitAttemptRow.client_order_id == client_order_id)
    ).scalar_one_or_none()
    if att is None:
        return
    att.status = status
    if filled is not None:
        att.filled_quantity = filled
    att.updated_at = at


def apply_to_exit(
    s: Session,
    exit_id: int,
    position_id: str,
    fill: Fill,
    at: datetime,
    pos_status: PositionStatus | None,
) -> PositionStatus | None:
    """Add a closing fill to its exit, in the fill's transaction: the partial-exit stage the
    exit works is marked done on its first fill; when the exit completes, its
    ``exit_executed`` alert is written (the outbox row, see :func:`exit_executed_alert`) and,
    when units remain, the position goes back from CLOSING to OPEN. Returns the position's
    status."""
    ex = s.execute(select(PositionExitRow).where(PositionExitRow.id == exit_id).with_for_update()).scalar_one()
    prev = (ex.fill_price or 0.0) * ex.filled_quantity
    ex.filled_quantity += fill.quantity
    ex.fill_price = (prev + fill.price * fill.quantity) / ex.filled_quantity
    pos: PositionRow | None = None
    if ex.stage is not None:
        pos = s.get(PositionRow, position_id)
        if pos is not None and ex.stage not in (pos.stages_done or ()):
            pos.stages_done = sorted({*(pos.stages_done or ()), ex.stage})
    if ex.filled_quantity >= ex.quantity:
        ex.status = ExitStatus.EXECUTED
        ex.executed_at = at
        s.add(exit_executed_alert(ex, at))
        if pos_status is PositionStatus.CLOSING:
            pos = pos or s.get(PositionRow, position_id)
            if pos is not None and pos.quantity > 0:
                pos.status = PositionStatus.OPEN
                return PositionStatus.OPEN
    return pos_status


#: Alert kind and severity of the outbox row written when an exit completes (the alerts
#: package's ``exit_executed``, INFO).
EXIT_EXECUTED = "exit_executed"


def exit_executed_key(exit_id: int) -> str:
    """The dedupe key of an exit's ``exit_executed`` alert: one row per exit, ever."""
    return f"{EXIT_EXECUTED}:{exit_id}"


def exit_executed_alert(ex: PositionExitRow, at: datetime) -> AlertRow:
    """The outbox row of a completed exit: stored with the fill that completes it, delivered
    after the commit (and again on start, if a kill came between)."""
    price = ex.fill_price if ex.fill_price is not None else float("nan")
    return AlertRow(
        created_at=at, level=AlertLevel.INFO, kind=EXIT_EXECUTED, position_id=ex.position_id,
        message=f"exit of {ex.position_id} filled: {ex.filled_quantity} at {price:.4f} with {ex.tactic}",
        payload={"position_id": ex.position_id, "exit_id": ex.id, "priority": ex.priority.name, "tactic": ex.tactic,
                 "fill_price": ex.fill_price, "filled_quantity": ex.filled_quantity},
        delivered_at=None, delivery_attempts=0, dedupe_key=exit_executed_key(ex.id),
    )


