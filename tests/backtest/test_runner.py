"""BacktestSpec, build_config and run_spec: flags over YAML with the rules' units, data checks
with clear errors, and runs that pickle, cache and agree between the model chain and a store."""

from __future__ import annotations

import pickle
from datetime import date
from pathlib import Path

import pytest

from riskpilot.backtest.export import to_json_dict
from riskpilot.backtest.runner import (
    BacktestSpec,
    BacktestSpecError,
    ChainCache,
    build_config,
    resolve_data,
    run_spec,
)
from riskpilot.data.model_chain import generate_model_chain
from riskpilot.data.store import ChainStore

YAML = """
exit_rules:
  profit_target: {profit_target_pct: 0.35}
  stop_loss: {stop_loss_pct: 2.0}
  time_exit_dte: {time_exit_dte: 21}
risk:
  max_class_exposure_pct: 0.40
regimes:
  exit_rules:
    bear_high_vol:
      stop_loss: {stop_loss_pct: 1.0}
      profit_target: {profit_target_pct: 0.20}
methods:
  fast:
    strategy: {kind: put_credit_spread, width_points: 10}
    entry: {min_delta: 0.10, max_delta: 0.20, min_dte: 20, max_dte: 40}
    exit_rules:
      profit_target: {enabled: false, profit_target_pct: 0.30}
  slow:
    entry: {min_delta: 0.05, max_delta: 0.10}
"""


@pytest.fixture()
def yaml_config(tmp_path: Path) -> Path:
    p = tmp_path / "cfg.yaml"
    p.write_text(YAML)
    return p


def test_flags_override_the_yaml_in_the_rules_units(yaml_config: Path) -> None:
    spec = BacktestSpec(config=yaml_config, method="fast", profit_target=50, stop_loss=125, time_exit_dte=7,
                        max_correlated_exposure=30, min_delta=0.05, max_delta=0.15, min_dte=30, max_dte=60,
                        min_iv_percentile=20, width=5)
    cfg = build_config(spec)
    fast = cfg.method("fast")
    assert fast.exit_rules.profit_target.profit_target_pct == pytest.approx(0.50)
    assert fast.exit_rules.profit_target.enabled  # a flag that sets a rule turns it on
    assert fast.exit_rules.stop_loss.stop_loss_pct == pytest.approx(1.25)
    assert fast.exit_rules.time_exit_dte.time_exit_dte == 7
    assert cfg.risk.max_class_exposure_pct == pytest.approx(0.30)
    e = fast.entry
    assert (e.min_delta, e.max_delta, e.min_dte, e.max_dte, e.min_iv_percentile) == (0.05, 0.15, 30, 60, 20)
    assert fast.strategy.width_points == 5
    # The regime override of the same keys takes the flag's value too; its other keys stay.
    bear = cfg.exit_rules_for("fast", "bear_high_vol")
    assert bear.stop_loss.stop_loss_pct == pytest.approx(1.25)
    assert bear.profit_target.profit_target_pct == pytest.approx(0.50)
    # The other method keeps what the YAML says.
    slow = cfg.method("slow")
    assert slow.exit_rules.profit_target.profit_target_pct == pytest.approx(0.35)
    assert slow.exit_rules.stop_loss.stop_loss_pct == pytest.approx(2.0)
    assert (slow.entry.min_delta, slow.entry.max_delta) == (0.05, 0.10)


def test_without_flags_the_yaml_values_stand(yaml_config: Path) -> None:
    cfg = build_config(BacktestSpec(config=yaml_config, method="fast"))
    fast = cfg.method("fast")
    assert not fast.exit_rules.profit_target.enabled
    assert fast.exit_rules.stop_loss.stop_loss_pct == pytest.approx(2.0)
    assert fast.exit_rules.time_exit_dte.time_exit_dte == 21
    assert fast.strategy.width_points == 10
    assert cfg.risk.max_class_exposure_pct == pytest.approx(0.40)


def test_a_config_with_several_methods_needs_a_method(yaml_config: Path) -> None:
    with pytest.raises(BacktestSpecError, match=r"2 methods \(fast, slow\): choose one with --method"):
        build_config(BacktestSpec(config=yaml_config))
    with pytest.raises(BacktestSpecError, match=r"--method 'fats' is not a method.*fast, slow"):
        build_config(BacktestSpec(config=yaml_config, method="fats"))


def test_a_flag_against_the_yaml_is_reported_with_the_setting(yaml_config: Path) -> None:
    # --min-delta 0.3 alone is fine, but the YAML's max_delta is 0.20.
    with pytest.raises(BacktestSpecError, match=r"min_delta \(0.3\) is above max_delta \(0.2\)"):
        build_config(BacktestSpec(config=yaml_config, method="fast", min_delta=0.3))


def test_a_debit_strategy_maps_the_stop_onto_the_debit_stop() -> None:
    cfg = build_config(BacktestSpec(strategy="long_put", stop_loss=60))
    rules = cfg.method("default").exit_rules
    assert rules.stop_loss.debit_stop_loss_pct == pytest.approx(0.60)
    assert rules.stop_loss.stop_loss_pct == pytest.approx(1.25)  # the credit stop is untouched
    with pytest.raises(BacktestSpecError, match="--stop-loss 125 is above 100: a long_put"):
        build_config(BacktestSpec(strategy="long_put", stop_loss=125))


def test_spec_refuses_min_delta_above_max_delta_and_unknown_fields() -> None:
    with pytest.raises(BacktestSpecError, match=r"--min-delta 0\.2 is above --max-delta 0\.1"):
        BacktestSpec.parse(min_delta=0.2, max_delta=0.1)
    with pytest.raises(BacktestSpecError, match="--start 2021-01-01 is above --end 2020-01-01"):
        BacktestSpec.parse(start=date(2021, 1, 1), end=date(2020, 1, 1))
    with pytest.raises(BacktestSpecError, match="--slippage: Input should be 'none', 'pct', 'spread'"):
        BacktestSpec.parse(slippage="nope")
    with pytest.raises(BacktestSpecError, match="--profit-targt"):
        BacktestSpec.parse(profit_targt=50)


def test_unknown_ticker_lists_the_known_ones() -> None:
    with pytest.raises(BacktestSpecError, match=r"--ticker XYZ: unknown ticker.*IWM, QQQ, SPX, SPY"):
        resolve_data(BacktestSpec(ticker="xyz"))


def test_dates_outside_the_data_give_the_range() -> None:
    with pytest.raises(BacktestSpecError, match=r"--start 1980-01-01 is before the data: .* covers \d{4}-\d\d-\d\d"):
        resolve_data(BacktestSpec(start=date(1980, 1, 1), end=date(2000, 1, 1)))
    with pytest.raises(BacktestSpecError, match=r"--end 2199-01-01 is after the data: .* covers .* \.\. "):
        resolve_data(BacktestSpec(start=date(2020, 1, 1), end=date(2199, 1, 1)))


def test_warmup_trading_days_are_fed_before_the_first_trading_day() -> None:
    src, start, end = resolve_data(BacktestSpec(start=date(2020, 6, 1), end=date(2020, 6, 30)), warmup_days=30)
    assert start == date(2020, 6, 1) and end == date(2020, 6, 30)
    assert len([d for d in src.days if d < start]) == 30  # trading days, only to fill signals
    assert src.days[-1] == date(2020, 6, 30) and src.model_priced


SHORT = {"ticker": "SPY", "start": date(2020, 1, 1), "end": date(2020, 2, 28), "profit_target": 50,
         "stop_loss": 125}


def test_spec_pickles_and_a_cached_rerun_gives_the_same_result() -> None:
    spec = BacktestSpec(**SHORT)
    again = pickle.loads(pickle.dumps(spec))
    assert again == spec
    cache = ChainCache()
    seen: list[int] = []
    first = run_spec(spec, lambda done, total, day: seen.append(done), cache=cache)
    assert len(cache) == 1 and cache.nbytes > 0  # the year 2020 is held
    second = run_spec(again, cache=cache)
    plain = run_spec(spec)
    assert first.result.equity == second.result.equity == plain.result.equity
    assert [t.pnl for t in first.result.trades] == [t.pnl for t in plain.result.trades]
    assert seen[0] == 0 and seen[-1] == len(first.source.days)
    assert first.model_priced and first.metrics.trade_count > 0
    doc = to_json_dict(first)
    assert doc["data"]["model_priced"] is True and doc["config"]["profit_target"] == 50


def test_a_store_of_the_same_rows_gives_the_same_backtest(tmp_path: Path) -> None:
    store = ChainStore(tmp_path / "chains")
    store.import_table(generate_model_chain("SPY", date(2020, 1, 2), date(2020, 2, 28)))
    on_store = run_spec(BacktestSpec(**SHORT | {"start": date(2020, 1, 2)}, data=tmp_path / "chains"))
    on_model = run_spec(BacktestSpec(**SHORT | {"start": date(2020, 1, 2)}))
    assert on_store.source.kind == "store" and on_store.model_priced  # the rows say model_priced
    assert on_store.result.equity == pytest.approx(on_model.result.equity)
    with pytest.raises(BacktestSpecError, match=r"--ticker QQQ: unknown ticker; the store .* holds SPY"):
        resolve_data(BacktestSpec(ticker="QQQ", data=tmp_path / "chains"))
    with pytest.raises(BacktestSpecError, match=r"--data .*: no chain store there"):
        resolve_data(BacktestSpec(data=tmp_path / "missing"))


def test_an_iv_percentile_filter_warms_up_on_the_year_before_start() -> None:
    run = run_spec(BacktestSpec(ticker="SPY", start=date(2021, 3, 1), end=date(2021, 3, 31), min_iv_percentile=30))
    warm = [d for d in run.source.days if d < date(2021, 3, 1)]
    assert len(warm) == 252  # IV_WINDOW trading days, fed before the first trading day
    assert run.result.dates[0] >= date(2021, 3, 1)  # no equity point (nor trade) in the warm-up
    assert all(t.opened >= date(2021, 3, 1) for t in run.result.trades)
    assert "iv_warmup" not in run.result.entries_refused
    assert run.config.method("default").entry.min_iv_percentile == 30


def test_volume_aware_fills_are_refused_on_the_model_chain_which_has_no_volume() -> None:
    with pytest.raises(BacktestSpecError, match="--slippage volume: volume-aware fills need each contract's traded"):
        run_spec(BacktestSpec(start=date(2020, 1, 2), end=date(2020, 1, 10), slippage="volume"))
    with pytest.raises(BacktestSpecError, match=r"--slippage orats --volume-share 0\.1: volume-aware"):
        run_spec(BacktestSpec(start=date(2020, 1, 2), end=date(2020, 1, 10), volume_share=0.1))
