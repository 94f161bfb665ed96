"""Playwright's sync API on a thread of its own, used from the test thread through thin proxies.

Playwright's sync API keeps an asyncio loop marked as running in the thread that uses it, so Django's
async-safety check would refuse every ORM call of that thread (the seed, the database flush between tests,
a journey's own checks) unless DJANGO_ALLOW_ASYNC_UNSAFE switched the check off process-wide — the live
server's thread included. Instead, Playwright lives on one worker thread: each call on a proxy runs there
and waits for its result, so the test thread never sees a running loop and the check stays on everywhere.

Objects returned from Playwright (pages, locators, downloads, `expect(...)` assertions, the event context
managers of `page.expect_download()`) come back as proxies too; arguments that are proxies are unwrapped.
Event listeners (`page.on`) run on the worker thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class PlaywrightThread:
    def __init__(self) -> None:
        self._calls: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name="playwright", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            item = self._calls.get()
            if item is None:
                return
            function, future = item
            try:
                future.set_result(function())
            except BaseException as exc:  # handed back to the caller, which raises it
                future.set_exception(exc)

    def run(self, function: Callable[[], Any]) -> Any:
        """Run `function` on the Playwright thread; return its result (proxied) or raise its exception."""
        future: Future = Future()
        self._calls.put((function, future))
        return self.wrap(future.result())

    def wrap(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return type(value)(self.wrap(item) for item in value)
        if type(value).__module__.startswith("playwright."):
            return Remote(self, value)
        return value

    def stop(self) -> None:
        self._calls.put(None)
        self._thread.join(30)


def _unwrap(value: Any) -> Any:
    if isinstance(value, Remote):
        return object.__getattribute__(value, "_target")
    if isinstance(value, list | tuple):
        return type(value)(_unwrap(item) for item in value)
    if isinstance(value, dict):
        return {key: _unwrap(item) for key, item in value.items()}
    return value


class Remote:
    """A Playwright object living on the Playwright thread."""

    __slots__ = ("_target", "_worker")

    def __init__(self, worker: PlaywrightThread, target: Any) -> None:
        object.__setattr__(self, "_worker", worker)
        object.__setattr__(self, "_target", target)

    def __getattr__(self, name: str) -> Any:
        worker, target = object.__getattribute__(self, "_worker"), object.__getattribute__(self, "_target")
        value = worker.run(lambda: getattr(target, name))
        if callable(value) and not isinstance(value, Remote):

            def call(*args: Any, **kwargs: Any) -> Any:
                args, kwargs = _unwrap(args), _unwrap(kwargs)
                return worker.run(lambda: value(*args, **kwargs))

            return call
        return value

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        worker, target = object.__getattribute__(self, "_worker"), object.__getattribute__(self, "_target")
        args, kwargs = _unwrap(args), _unwrap(kwargs)
        return worker.run(lambda: target(*args, **kwargs))

    def __enter__(self) -> Any:
        worker, target = object.__getattribute__(self, "_worker"), object.__getattribute__(self, "_target")
        return worker.run(target.__enter__)

    def __exit__(self, *exc_info: Any) -> Any:
        worker, target = object.__getattribute__(self, "_worker"), object.__getattribute__(self, "_target")
        return worker.run(lambda: target.__exit__(*exc_info))

    def __repr__(self) -> str:
        return f"Remote({object.__getattribute__(self, '_target')!r})"
