"""riskpilot: risk and exit management for systematic options positions."""

__version__ = "0.1.0"
