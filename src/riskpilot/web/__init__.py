"""The dashboard: a small ASGI application (Starlette, served by uvicorn) over the store that
the monitor writes: the book with its exit levels, the exits in flight, history and state,
with halt and close behind a token. ``riskpilot dashboard`` runs it; :func:`create_app`
builds it for a server of your own. Needs the ``web`` extra (``pip install ".[web]"``)."""
