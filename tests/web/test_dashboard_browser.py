"""The dashboard in a real browser (the distribution's Chromium, driven by Playwright) against
a store filled by a paper replay, served on loopback: the book matches the store, a position
near its stop stands out, halt is refused without the token and works with it, and a close
queues an exit that a monitor cycle works."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from dashboard_rig import TOKEN, Replayed, as_of, serving

from riskpilot.model import PositionStatus, TradingState
from riskpilot.model.contract import exchange_date
from riskpilot.store import OPEN_STATUSES, ActionRepository, ExitRepository, PositionRepository, StateRepository, Store
from riskpilot.store.models import ExitStatus

#: The highlight of a row in the urgent band (dashboard.css --urgent).
URGENT_BG = "rgb(255, 241, 194)"


@pytest.fixture
def page(browser: Any) -> Any:
    ctx = browser.new_context(viewport={"width": 1500, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(10_000)
    try:
        yield pg
    finally:
        ctx.close()


def _sign_in(page: Any, base: str, name: str = "alice", token: str = TOKEN) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=operator]", name)
    page.fill("input[name=token]", token)
    page.click("#login-form button")
    page.wait_for_url(f"{base}/book")


def test_book_page_matches_the_store_position_by_position(page: Any, replayed_store: Store) -> None:
    stored = PositionRepository(replayed_store).load_open(OPEN_STATUSES)
    assert len(stored) >= 3, "the replay should leave a book"
    today = exchange_date(as_of(replayed_store))
    with serving(replayed_store, token=TOKEN) as base:
        page.goto(f"{base}/book")
        assert page.locator("#book tbody tr[data-id]").count() == len(stored)
        for sp in stored:
            p, m = sp.position, sp.monitoring
            cells = page.locator(f"#book tr[data-id='{p.id}'] td").all_inner_texts()
            assert cells[0].startswith(p.id)
            assert cells[1].startswith(p.method)
            assert cells[3] == str(p.quantity)
            assert cells[4] == f"{p.entry_premium:.2f}"
            assert cells[5] == (f"{m.current_price:.2f}" if m.current_price is not None else "-")
            assert cells[8] == str(p.dte(today))
            stop = p.entry_premium * 3.0  # credit stop at a 200% loss (the replay's configuration)
            assert cells[9].splitlines()[0] == f"{stop:.2f}"
        total = sum(sp.monitoring.unrealized_pnl or 0.0 for sp in stored)
        assert page.inner_text("#unrealized") == f"{'-' if total < 0 else '+'}${abs(total):,.0f}"
        assert page.locator("tr.urgent").count() == 0


def test_a_position_near_its_stop_is_highlighted(page: Any, replayed_store: Store) -> None:
    repo = PositionRepository(replayed_store)
    target = next(sp.position for sp in repo.load_open((PositionStatus.OPEN,)))
    stop = target.entry_premium * 3.0
    # The monitor writes a mark 1% under the stop: inside its 2% urgent band.
    repo.apply_mark(target.id, round(stop * 0.99, 4), as_of(replayed_store))
    with serving(replayed_store, token=TOKEN) as base:
        page.goto(f"{base}/book")
        row = page.locator(f"#book tr[data-id='{target.id}']")
        assert "urgent" in (row.get_attribute("class") or "")
        assert row.get_attribute("data-near") == "stop_loss"
        assert "near stop loss" in row.locator("td").first.inner_text()
        assert row.locator("td").nth(2).evaluate("e => getComputedStyle(e).backgroundColor") == URGENT_BG
        assert page.locator("tr.urgent").count() == 1
        assert page.inner_text("#n-urgent") == "1"


def test_halt_without_the_token_is_refused_and_leaves_the_state_unchanged(page: Any, replayed_store: Store) -> None:
    state = StateRepository(replayed_store)
    before = state.trading_state()
    assert before.state is TradingState.ACTIVE
    with serving(replayed_store, token=TOKEN) as base:
        # Not signed in: the confirmation page says so, and submitting it is refused.
        page.goto(f"{base}/actions/halt")
        assert "sign in" in page.inner_text("#confirm")
        with page.expect_response(f"{base}/actions/halt") as answer:
            page.click("#confirm-button")
        assert answer.value.status == 401
        assert "Refused" in page.inner_text("#message")
        # A wrong token does not sign in.
        page.goto(f"{base}/login")
        page.fill("input[name=operator]", "mallory")
        page.fill("input[name=token]", "not-the-token-at-all")
        with page.expect_response(f"{base}/login") as answer:
            page.click("#login-form button")
        assert answer.value.status == 403 and "Wrong token" in page.inner_text("#login-error")
    with serving(replayed_store) as base:  # started without a token: read-only
        page.goto(f"{base}/book")
        assert "read-only" in page.inner_text("#read-only")
        page.goto(f"{base}/actions/halt")
        with page.expect_response(f"{base}/actions/halt") as answer:
            page.click("#confirm-button")
        assert answer.value.status == 403
    assert state.trading_state() == before
    assert ActionRepository(replayed_store).recent() == []


def test_halt_with_the_token_sets_halted_in_the_store_and_the_page_shows_it(page: Any,
                                                                            replayed_store: Store) -> None:
    state = StateRepository(replayed_store)
    with serving(replayed_store, token=TOKEN, refresh_seconds=1) as base:
        _sign_in(page, base)
        page.goto(f"{base}/state")
        page.click("#halt-link")
        page.fill("input[name=reason]", "broker maintenance")
        page.click("#confirm-button")
        page.wait_for_url(f"{base}/actions/done/*")
        assert page.inner_text("#outcome") == "DONE"
        st = state.trading_state()
        assert st.state is TradingState.HALTED and st.reason == "manual halt: broker maintenance"
        page.goto(f"{base}/state")
        assert page.inner_text("#trading-state") == "HALTED"
        assert "broker maintenance" in page.inner_text("#trading-reason")
        [rec] = ActionRepository(replayed_store).recent()
        assert (rec.operator, rec.client, rec.action, rec.outcome.value) == ("alice", "127.0.0.1", "halt", "DONE")
        assert "alice" in page.inner_text("#actions")
        # Live: a resume elsewhere (here, the store as the CLI does it) shows without a reload.
        from riskpilot.store import operator

        operator.resume(replayed_store, datetime.now(UTC))
        from playwright.sync_api import expect

        expect(page.locator("#trading-state")).to_have_text("ACTIVE", timeout=8000)


def _quote_for_a_close(store: Store, pid: str) -> Any:
    """A monitor on simulated time whose paper broker quotes ``pid``'s legs at its last mark
    (the long legs at 1.00/1.10, the short ones above them by the premium)."""
    from riskpilot.brokers.paper import PaperBroker, ScriptedMarket
    from riskpilot.config import RiskPilotConfig
    from riskpilot.execution.clock import SimulatedClock
    from riskpilot.execution.executor import ExitExecutor
    from riskpilot.execution.fills import FillModel
    from riskpilot.live import PositionMonitor
    from riskpilot.risk.manager import RiskManager
    from riskpilot.store.ledger import StoreLedger
    from riskpilot.store.paper_book import StorePaperBook

    sp = PositionRepository(store).get(pid)
    premium = sp.monitoring.current_price or sp.position.entry_premium
    market = ScriptedMarket()
    longs = [leg for leg in sp.position.legs if leg.quantity > 0]
    shorts = [leg for leg in sp.position.legs if leg.quantity < 0]
    for leg in longs:
        market.set(leg.contract, 1.00, 1.10, 1000)
    mid = (1.05 * len(longs) + premium) / len(shorts)
    for leg in shorts:
        market.set(leg.contract, mid - 0.05, mid + 0.05, 1000)
    clock = SimulatedClock(datetime.now(UTC))
    broker = PaperBroker(StorePaperBook(store), market, account="paper", fill_model=FillModel(), clock=clock)

    async def match(_now: datetime) -> None:
        await broker.process()

    clock.on_advance(match)
    cfg = RiskPilotConfig()
    risk = RiskManager(cfg, equity=100_000)
    executor = ExitExecutor(broker, StoreLedger(store), cfg, clock, None)
    return PositionMonitor(store, broker, risk, cfg, clock, executor=executor)


def test_a_close_from_the_browser_queues_an_exit_that_the_monitor_works(page: Any, replayed: Replayed,
                                                                         replayed_store: Store) -> None:
    target = next(sp.position for sp in PositionRepository(replayed_store).load_open((PositionStatus.OPEN,)))
    with serving(replayed_store, token=TOKEN) as base:
        _sign_in(page, base, "bob")
        page.click(f"#book tr[data-id='{target.id}'] a:has-text('close')")
        assert target.id in page.inner_text("#confirm")
        page.select_option("select[name=priority]", "CRITICAL")
        page.fill("input[name=reason]", "risk off")
        page.click("#confirm-button")
        page.wait_for_url(f"{base}/actions/done/*")
        assert page.inner_text("#outcome") == "DONE" and "1 exit(s) queued" in page.inner_text("#detail")
        [ex] = ExitRepository(replayed_store).exits_for(target.id)[-1:]
        assert (ex.status, ex.rule, ex.reason, ex.tactic) == (ExitStatus.WORKING, "manual_close",
                                                              "manual close: risk off", "CRITICAL:market")
        assert PositionRepository(replayed_store).get(target.id).position.status is PositionStatus.CLOSING
        page.goto(f"{base}/exits")
        assert target.id in page.inner_text(f"#exit-{ex.id}")

        # One monitor cycle works the queued exit.
        monitor = _quote_for_a_close(replayed_store, target.id)

        async def cycle() -> None:
            await monitor.start()
            await monitor.check_once()
            await monitor.wait_exits()

        # In a thread of its own: Playwright's sync API holds this thread's event loop.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, cycle()).result(timeout=60)
        done = ExitRepository(replayed_store).get_exit(ex.id)
        assert done.status is ExitStatus.EXECUTED and done.filled_quantity == target.quantity
        assert PositionRepository(replayed_store).get(target.id).position.status is PositionStatus.CLOSED
        page.goto(f"{base}/exits")
        assert page.locator("#no-exits").is_visible()
        page.goto(f"{base}/history")
        row = page.locator(f"#exit-history tr[data-exit='{ex.id}']").inner_text()
        assert "manual_close" in row and "EXECUTED" in row and "CRITICAL" in row
        assert page.locator(f"#book tr[data-id='{target.id}']").count() == 0
