"""The connection to IB Gateway / TWS: connect with a clear error, pace requests, watch the
link, reconnect with backoff, and say what state it is in.

States (:class:`riskpilot.execution.port.ConnectionState`, re-exported here):

- ``CONNECTED``: the API session is up and IB's servers are reachable; calls go through.
- ``DISCONNECTED``: the socket closed, or IB reported 1100 (TWS lost its link to IB's
  servers). Every broker call raises :class:`riskpilot.execution.port.BrokerDisconnectedError`
  at once, so a monitor holds its decisions. A closed socket is reconnected with exponential
  backoff (``reconnect_initial_delay_seconds`` doubling up to ``reconnect_max_delay_seconds``);
  after 1100 the socket stays up and IB's 1101/1102 (link restored) ends it.
- ``CONNECTING``: between the two, while the session (re)synchronises.

After every (re)connection the broker's ``on_connected`` hooks run (re-reading open orders and
executions, re-subscribing market data) before the state turns ``CONNECTED``; listeners
registered with :meth:`IbkrSession.add_listener` hear every change of state.

Pacing: IB allows 50 messages a second from a client. Every request the adapter makes goes
through one :class:`aiolimiter.AsyncLimiter` at ``max_messages_per_second`` and is counted by
kind in ``requests``; ib_async's own throttle (45 a second by default) is set to the same rate,
so it binds only on what ib_async sends by itself (its synchronisation at connect).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from aiolimiter import AsyncLimiter
from ib_async import IB

from riskpilot.config.brokers import IbkrConfig
from riskpilot.execution.port import BrokerDisconnectedError, BrokerError, ConnectionListener, ConnectionState

log = logging.getLogger(__name__)

#: IB system messages about the link between TWS/Gateway and IB's servers.
LINK_LOST, LINK_RESTORED_DATA_LOST, LINK_RESTORED = 1100, 1101, 1102
CLIENT_ID_IN_USE = 326


class BrokerConnectError(BrokerError):
    """Nothing usable answered at the configured address (not running, API disabled, client
    id taken, wrong account)."""


StateListener = ConnectionListener
ConnectedHook = Callable[[bool], Awaitable[None]]


class IbkrSession:
    """One ib_async ``IB`` connection with pacing, state and reconnection."""

    def __init__(self, settings: IbkrConfig, *, ib: IB | None = None) -> None:
        self.settings = settings
        self.ib = ib or IB()
        self.requests: Counter[str] = Counter()
        self.reconnects = 0
        self._limiter = AsyncLimiter(settings.max_messages_per_second, 1.0)
        self.ib.client.MaxRequests = max(1, int(settings.max_messages_per_second))
        self._state = ConnectionState.DISCONNECTED
        self._why = "not connected yet"
        self._listeners: list[StateListener] = []
        self._hooks: list[ConnectedHook] = []
        self._closing = False
        self._reconnect_task: asyncio.Task[None] | None = None
        self._resync_task: asyncio.Task[None] | None = None
        self._last_error: tuple[int, str] | None = None
        self._connected = asyncio.Event()
        self.ib.disconnectedEvent += self._on_socket_closed
        self.ib.errorEvent += self._on_error

    # --- state ---------------------------------------------------------------------------
    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def account(self) -> str:
        return self.settings.account or (self.ib.managedAccounts() or [""])[0]

    def add_listener(self, listener: StateListener) -> None:
        """``listener(state, why)`` is called on every change of state."""
        self._listeners.append(listener)

    def on_connected(self, hook: ConnectedHook) -> None:
        """``await hook(reconnected)`` after every connection, before the state turns CONNECTED."""
        self._hooks.append(hook)

    def _set(self, state: ConnectionState, why: str) -> None:
        if state is self._state and why == self._why:
            return
        self._state, self._why = state, why
        if state is ConnectionState.CONNECTED:
            self._connected.set()
        else:
            self._connected.clear()
        log.info("IB connection %s: %s", state.value, why)
        for listener in list(self._listeners):
            try:
                listener(state, why)
            except Exception:  # a listener failing must not break the connection handling
                log.exception("connection-state listener failed")

    def require_connected(self) -> None:
        if self._state is not ConnectionState.CONNECTED:
            raise BrokerDisconnectedError(
                f"not connected to IB Gateway/TWS at {self.settings.address} ({self._why}); "
                "reconnecting, nothing was sent"
            )

    async def wait_connected(self, timeout: float | None = None) -> bool:
        """True once CONNECTED (at once if it is), False after ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def request(self, kind: str) -> None:
        """Wait for a slot under the pacing limit and count one outgoing message of ``kind``.
        Raises BrokerDisconnectedError when the link is down."""
        self.require_connected()
        async with self._limiter:
            self.requests[kind] += 1
        self.require_connected()

    # --- connecting ----------------------------------------------------------------------
    def unreachable_message(self) -> str:
        s = self.settings
        msg = (
            f"cannot reach IB Gateway/TWS at {s.address}: is it running with the API enabled and this "
            f"client id free? (client id {s.client_id})"
        )
        if self._last_error is not None:
            msg += f" IB said {self._last_error[0]}: {self._last_error[1]}"
        return msg

    async def connect(self) -> None:
        """Connect and synchronise; raises :class:`BrokerConnectError` with a clear message."""
        self._closing = False
        await self._connect_once(reconnected=False)

    async def _connect_once(self, *, reconnected: bool) -> None:
        s = self.settings
        self._set(ConnectionState.CONNECTING, "connecting")
        self._last_error = None
        try:
            await self.ib.connectAsync(
                s.host, s.port, clientId=s.client_id, timeout=s.connect_timeout_seconds,
                account=s.account or "", raiseSyncErrors=False,
            )
        except (OSError, TimeoutError, ConnectionError) as exc:
            self._set(ConnectionState.DISCONNECTED, f"connect failed: {type(exc).__name__}")
            raise BrokerConnectError(self.unreachable_message()) from None
        accounts = self.ib.managedAccounts()
        if s.account and s.account not in accounts:
            self.ib.disconnect()
            self._set(ConnectionState.DISCONNECTED, "wrong account")
            raise BrokerConnectError(
                f"IB Gateway/TWS at {s.address} manages {', '.join(accounts) or 'no account'}, not "
                f"{s.account!r}: set brokers.ibkr.account (or RISKPILOT_IBKR_ACCOUNT) to one of them"
            )
        if not s.account and len(accounts) != 1:
            self.ib.disconnect()
            self._set(ConnectionState.DISCONNECTED, "account ambiguous")
            raise BrokerConnectError(
                f"IB Gateway/TWS at {s.address} manages several accounts ({', '.join(accounts)}): "
                "choose one with brokers.ibkr.account or RISKPILOT_IBKR_ACCOUNT"
            )
        self.ib.reqMarketDataType(s.market_data_type_code)
        self.requests["reqMarketDataType"] += 1
        await self._run_hooks(reconnected)

    async def _run_hooks(self, reconnected: bool) -> None:
        for hook in self._hooks:
            await hook(reconnected)
        if self.ib.isConnected():
            self._set(ConnectionState.CONNECTED, "reconnected" if reconnected else "connected")

    async def close(self) -> None:
        self._closing = True
        for task in (self._reconnect_task, self._resync_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self.ib.isConnected():
            self.ib.disconnect()
        self._set(ConnectionState.DISCONNECTED, "closed")

    # --- watching the link ---------------------------------------------------------------
    def _on_socket_closed(self) -> None:
        if self._closing:
            return
        self._set(ConnectionState.DISCONNECTED, "socket closed")
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.get_event_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = self.settings.reconnect_initial_delay_seconds
        while not self._closing:
            await asyncio.sleep(delay)
            if self._closing:
                return
            try:
                await self._connect_once(reconnected=True)
                self.reconnects += 1
                return
            except BrokerError as exc:
                log.warning("reconnect to %s failed (%s); next try in %g s", self.settings.address, exc,
                            min(delay * 2, self.settings.reconnect_max_delay_seconds))
            except Exception:  # keep trying whatever went wrong; the state already says DISCONNECTED
                log.exception("reconnect to %s failed", self.settings.address)
                if self.ib.isConnected():
                    self.ib.disconnect()
                self._set(ConnectionState.DISCONNECTED, "reconnect failed")
            delay = min(delay * 2, self.settings.reconnect_max_delay_seconds)

    def _on_error(self, req_id: int, code: int, message: str, contract: Any) -> None:
        if req_id == -1:
            self._last_error = (code, message)
        if code == LINK_LOST:
            self._set(ConnectionState.DISCONNECTED, f"IB {code}: {message}")
        elif code in (LINK_RESTORED, LINK_RESTORED_DATA_LOST) and not self._closing:
            # Orders, executions and (after 1101) market data may have moved while the link was
            # down: resynchronise before calls go through again.
            self._set(ConnectionState.CONNECTING, f"IB {code}: resynchronising")
            self._resync_task = asyncio.get_event_loop().create_task(self._resync())

    async def _resync(self) -> None:
        delay = self.settings.reconnect_initial_delay_seconds
        while not self._closing and self.ib.isConnected():
            try:
                await self._run_hooks(True)
                return
            except Exception:  # retried: calls stay refused (CONNECTING) until it succeeds
                log.exception("resynchronising with IB after a link restore failed; retrying in %g s", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.reconnect_max_delay_seconds)


__all__ = [
    "CLIENT_ID_IN_USE",
    "LINK_LOST",
    "LINK_RESTORED",
    "LINK_RESTORED_DATA_LOST",
    "BrokerConnectError",
    "ConnectionState",
    "IbkrSession",
]
