"""Fake venues on loopback that speak the real wire protocols, so the real client libraries
run in the tests (see ``tws.py`` for Interactive Brokers' TWS API)."""
