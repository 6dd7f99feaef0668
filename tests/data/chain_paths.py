"""Where the chain tests find their files: hand-made samples beside the tests, and the real
market data in ../shared/data (or $RISKPILOT_SHARED_DATA); tests skip when that is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parent / "samples"
ORATS = SAMPLES / "orats_strikes_spy_2020-01-02_2020-01-03.csv"
CBOE = SAMPLES / "cboe_option_eod_summary_spx_2020-01-02_2020-01-03.csv"
OPTIONSDX = SAMPLES / "spy_eod_202001_optionsdx_sample.txt"

SPX_2019 = "spx_eod_chain_2019-04-25_2019-07-22.parquet"
SPXW_2018 = "spxw_eod_chain_2018-01_2018-02.csv"
SPX_2017 = "spx_eod_options_2017-2018_subset.csv"
SPY_2021 = "spy_eod_options_2021_subset.csv"
IVOL_2011 = "spx_eod_chain_ivolatility_2011-01-03_2011-01-07.csv"


def shared_data() -> Path:
    env = os.environ.get("RISKPILOT_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"


def shared_file(name: str) -> Path:
    path = shared_data() / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (set RISKPILOT_SHARED_DATA to the shared data folder)")
    return path
