"""The product's ASGI application served by uvicorn in a thread on a free 127.0.0.1 port, for the tests that need a
real HTTP server (the schema fuzzer, the browser journeys). It shares the test database (committed data only)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(application, *, name: str) -> Iterator[str]:
    """Serve `application` until the block ends; yields its base URL. Relies on uvicorn's `Server.started` and on
    it skipping signal handlers off the main thread (docs/architecture.md lists it)."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, lifespan="off", log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name=f"{name}-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail(f"the {name} server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
