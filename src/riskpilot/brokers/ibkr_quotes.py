"""Option quotes from IB in batches: streaming lines, snapshots past the line limit.

Choice: **streaming tickers** (``reqMktData`` without snapshot), one line per contract, held
while the contract keeps being asked for. A monitor asks for the same legs every 5 to 30 s;
a held line costs one message once and IB keeps it current, so a cycle costs no request at
all and its quotes are never older than IB's own updates, whereas a snapshot costs a request
per contract per cycle (against the 50 messages a second pacing) and can take seconds to
complete for an option. Lines are limited (``max_market_data_lines``, IB's default
allowance is 100): a batch first keeps the lines it already has, opens new ones while lines
are free (closing the least recently asked lines that this batch does not need), and reads
whatever still does not fit by one-off snapshots.

What comes back (the port's rule: a contract without a usable market is *absent*): a quote
only for a live (market data type 1) two-sided market, stamped with the time it is read
(a held line is current while the link is up; when it is down the broker raises instead).
Frozen or delayed data, a missing side and IB errors for the line are left out, and the
reason is kept in :attr:`QuoteLines.problems` for logs and ``broker check``.
"""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ib_async import Contract, Ticker

from riskpilot.brokers.ibkr_session import IbkrSession
from riskpilot.model.contract import OptionContract
from riskpilot.model.quote import Quote

DATA_TYPE_NAMES: Mapping[int, str] = {1: "live", 2: "frozen", 3: "delayed", 4: "delayed-frozen"}

Qualify = Callable[[Sequence[OptionContract]], Awaitable[dict[OptionContract, Contract]]]


def _finite(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def quote_from_ticker(ticker: Ticker, now: datetime) -> Quote | str:
    """A live two-sided quote from a ticker, or why there is none."""
    kind = ticker.marketDataType
    if kind != 1:
        return f"{DATA_TYPE_NAMES.get(kind, str(kind))} data (IB market data type {kind}), not a live market"
    bid, ask = ticker.bid, ticker.ask
    if not (_finite(bid) and bid >= 0 and _finite(ask) and ask > 0):
        return f"no two-sided market (bid {bid}, ask {ask})"
    vol = ticker.volume
    last = ticker.last
    return Quote(
        float(bid), float(ask), now,
        last=float(last) if _finite(last) and last > 0 else None,
        volume=int(vol) if _finite(vol) and vol >= 0 else None,
    )


class QuoteLines:
    """The streaming lines held and the batches read through them (module docstring)."""

    def __init__(self, session: IbkrSession, qualify: Qualify, clock: Callable[[], datetime]) -> None:
        self.session = session
        self.settings = session.settings
        self.ib = session.ib
        self._qualify = qualify
        self._clock = clock
        self._lines: OrderedDict[OptionContract, Ticker] = OrderedDict()
        self._errors: dict[int, str] = {}  # conId -> last market-data error
        self.problems: dict[OptionContract, str] = {}
        self.snapshots = 0
        self.ib.errorEvent += self._on_error

    @property
    def held(self) -> int:
        return len(self._lines)

    def _on_error(self, req_id: int, code: int, message: str, contract: Any) -> None:
        ticker = self.ib.wrapper.reqId2Ticker.get(req_id)
        if ticker is not None and ticker.contract is not None and code not in range(2100, 2200):
            self._errors[ticker.contract.conId] = f"IB {code}: {message}"

    def forget_dead_lines(self) -> None:
        """After a reconnection ib_async starts afresh: lines of the old session are gone."""
        live = self.ib.wrapper.tickers
        for c, t in list(self._lines.items()):
            if live.get(hash(t.contract)) is not t:
                del self._lines[c]

    def cached_quote(self, contract: OptionContract) -> Quote | None:
        t = self._lines.get(contract)
        if t is None:
            return None
        q = quote_from_ticker(t, self._clock())
        return q if isinstance(q, Quote) else None

    async def get(self, contracts: Sequence[OptionContract]) -> dict[OptionContract, Quote]:
        self.session.require_connected()
        wanted = list(dict.fromkeys(contracts))
        qualified = await self._qualify(wanted)
        self.problems = {c: "IB 200: no security definition" for c in wanted if c not in qualified}
        for c in wanted:
            if c in self._lines:
                self._lines.move_to_end(c)
        new = [c for c in wanted if c in qualified and c not in self._lines]
        await self._free_lines(len(new), keep=set(wanted))
        room = max(self.settings.max_market_data_lines - len(self._lines), 0)
        stream, snap = new[:room], new[room:]
        for c in stream:
            await self.session.request("reqMktData")
            self._lines[c] = self.ib.reqMktData(qualified[c], "", False, False)
        if stream:
            await self._first_quotes([self._lines[c] for c in stream])
        tickers: dict[OptionContract, Ticker] = {c: self._lines[c] for c in wanted if c in self._lines}
        if snap:
            tickers.update(await self._snapshots({c: qualified[c] for c in snap}))
        self.session.require_connected()
        now = self._clock()
        out: dict[OptionContract, Quote] = {}
        for c, t in tickers.items():
            q = quote_from_ticker(t, now)
            if isinstance(q, Quote):
                out[c] = q
            else:
                self.problems[c] = self._errors.get(t.contract.conId, q) if t.contract is not None else q
        return out

    async def _free_lines(self, needed: int, keep: set[OptionContract]) -> None:
        excess = len(self._lines) + needed - self.settings.max_market_data_lines
        for c in list(self._lines):
            if excess <= 0:
                break
            if c in keep:
                continue
            ticker = self._lines.pop(c)
            if ticker.contract is not None:
                await self.session.request("cancelMktData")
                self.ib.cancelMktData(ticker.contract)
            excess -= 1

    async def _first_quotes(self, tickers: list[Ticker]) -> None:
        """Wait until each new line has its first two-sided quote, an error or a data type
        other than live, at most ``first_quote_timeout_seconds``."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self.settings.first_quote_timeout_seconds

        def settled(t: Ticker) -> bool:
            return (_finite(t.bid) and _finite(t.ask)) or t.marketDataType != 1 or (
                t.contract is not None and t.contract.conId in self._errors
            )

        while not all(settled(t) for t in tickers) and loop.time() < until:
            self.session.require_connected()
            await asyncio.sleep(0.005)

    async def _snapshots(self, contracts: Mapping[OptionContract, Contract]) -> dict[OptionContract, Ticker]:
        out: dict[OptionContract, Ticker] = {}
        items = list(contracts.items())
        size = self.settings.max_market_data_lines
        for i in range(0, len(items), size):
            chunk = items[i:i + size]
            for _ in chunk:
                await self.session.request("reqMktData(snapshot)")
            self.snapshots += len(chunk)
            try:
                tickers = await asyncio.wait_for(
                    self.ib.reqTickersAsync(*[ib for _, ib in chunk]), self.settings.first_quote_timeout_seconds * 5
                )
            except TimeoutError:
                tickers = [self.ib.ticker(ib) for _, ib in chunk]  # type: ignore[misc]
            for (c, _), t in zip(chunk, tickers, strict=True):
                if t is not None:
                    out[c] = t
        return out


__all__ = ["DATA_TYPE_NAMES", "QuoteLines", "quote_from_ticker"]
