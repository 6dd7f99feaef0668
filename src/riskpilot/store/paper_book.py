"""The paper broker's book in the store (:class:`riskpilot.brokers.paper_book.PaperBook`):
the ``paper_*`` tables of migration 0002, apart from the engine's own tables so that the
store and the "venue" reconcile against each other like a real pair."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from riskpilot.brokers.paper_book import PaperAccountState, PaperHolding
from riskpilot.model.order import Fill, Order
from riskpilot.model.status import OrderState
from riskpilot.store.database import Store
from riskpilot.store.models import PaperAccountRow, PaperFillRow, PaperOrderRow, PaperPositionRow
from riskpilot.store.serialize import contract_from_dict, contract_key, contract_to_dict, order_from_dict, order_to_dict


class StorePaperBook:
    def __init__(self, store: Store) -> None:
        self.store = store

    def load(self, account: str, now: datetime) -> PaperAccountState:
        state = PaperAccountState()
        with self.store.transaction() as s:
            acct = s.get(PaperAccountRow, account)
            if acct is None:
                s.add(PaperAccountRow(account=account, order_seq=0, fill_seq=0, created_at=now))
                return state
            state.order_seq, state.fill_seq = acct.order_seq, acct.fill_seq
            position_of: dict[str, str | None] = {}
            for r in s.execute(select(PaperOrderRow).where(PaperOrderRow.account == account)).scalars():
                order = order_from_dict(r.order)
                position_of[r.client_order_id] = order.position_id
                state.orders.append((order, OrderState(
                    client_order_id=r.client_order_id, broker_order_id=r.broker_order_id, status=r.status,
                    quantity=order.quantity, filled_quantity=r.filled_quantity, avg_fill_price=r.avg_fill_price,
                    limit_price=order.limit_price, updated_at=r.updated_at, reason=r.reason,
                )))
            fills = s.execute(
                select(PaperFillRow).where(PaperFillRow.account == account)
                .order_by(PaperFillRow.filled_at, PaperFillRow.fill_id)
            ).scalars()
            for f in fills:
                state.fills.append((Fill(f.fill_id, f.client_order_id, f.quantity, f.price, f.filled_at, f.side,
                                         position_of[f.client_order_id], f.commission), f.broker_order_id))
            for p in s.execute(select(PaperPositionRow).where(PaperPositionRow.account == account)).scalars():
                state.holdings.append(PaperHolding(contract_from_dict(p.contract), p.quantity, p.avg_price))
        return state

    def save(self, account: str, now: datetime, *, order_seq: int, fill_seq: int,
             orders: Sequence[tuple[Order, OrderState]], fills: Sequence[tuple[Fill, str]],
             holdings: Sequence[PaperHolding]) -> None:
        with self.store.transaction() as s:
            acct = s.get(PaperAccountRow, account, with_for_update=True)
            if acct is None:
                raise RuntimeError(f"paper account {account!r} vanished from the store")
            acct.order_seq, acct.fill_seq = order_seq, fill_seq
            for order, st in orders:
                row = s.get(PaperOrderRow, st.broker_order_id)
                if row is None:
                    s.add(PaperOrderRow(
                        broker_order_id=st.broker_order_id, account=account, client_order_id=order.client_order_id,
                        order=order_to_dict(order), status=st.status, filled_quantity=st.filled_quantity,
                        avg_fill_price=st.avg_fill_price, reason=st.reason, created_at=now, updated_at=st.updated_at,
                    ))
                    s.flush()
                else:
                    row.order = order_to_dict(order)
                    row.status = st.status
                    row.filled_quantity = st.filled_quantity
                    row.avg_fill_price = st.avg_fill_price
                    row.reason = st.reason
                    row.updated_at = st.updated_at
            for f, broker_id in fills:
                s.add(PaperFillRow(
                    fill_id=f.fill_id, account=account, broker_order_id=broker_id, client_order_id=f.client_order_id,
                    side=f.side, quantity=f.quantity, price=f.price, commission=f.commission, filled_at=f.timestamp,
                ))
            for h in holdings:
                key = contract_key(h.contract)
                prow = s.get(PaperPositionRow, (account, key))
                if prow is None:
                    s.add(PaperPositionRow(account=account, contract_key=key, contract=contract_to_dict(h.contract),
                                           quantity=h.quantity, avg_price=h.avg_price, updated_at=now))
                else:
                    prow.quantity, prow.avg_price, prow.updated_at = h.quantity, h.avg_price, now


__all__ = ["StorePaperBook"]
