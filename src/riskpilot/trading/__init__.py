"""The trading core both drivers run: entry selection and signals, settlement, and the cycle
step (mark -> exits -> entries -> settlement). It imports neither driver: the backtest
(:mod:`riskpilot.backtest`) and the live loop (:mod:`riskpilot.live`) hand it their quotes,
clock and executor."""
