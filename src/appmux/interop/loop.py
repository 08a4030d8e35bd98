"""The one event-loop thread a process runs ASGI apps on under a WSGI server.

Started on first use (so never in a pre-fork master, which serves nothing)
and again on first use in a forked child; every ASGI app of the process, and
every lifespan, runs on it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from ..background import ProcessThread

__all__ = ["LoopThread", "loop_thread"]

T = TypeVar("T")


class LoopThread:
    """An asyncio loop in a daemon thread of this process."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = ProcessThread("appmux-asgi-loop", self._run, in_child=self._reset)

    def _reset(self, _was_running: bool) -> bool:
        self._loop = None
        self._ready = threading.Event()
        return False  # started again by the child's first ASGI request

    def _run(self, stop: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._ready.set()

        async def until_stopped() -> None:
            while not stop.is_set():
                await asyncio.sleep(0.5)

        try:
            loop.run_until_complete(until_stopped())
        finally:
            loop.close()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop (the thread starts if it does not run yet)."""
        loop = self._loop
        if loop is not None and self._thread.running:
            return loop
        self._thread.ensure_running()
        self._ready.wait(10)
        assert self._loop is not None, "the appmux event-loop thread did not start"
        return self._loop

    def on_loop(self) -> bool:
        """Whether the caller runs on this process's loop thread."""
        loop = self._loop
        if loop is None or not self._thread.running:
            return False
        try:
            return asyncio.get_running_loop() is loop
        except RuntimeError:
            return False

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coroutine`` on the loop from another thread and wait for its result."""
        if self.on_loop():
            coroutine.close()
            raise RuntimeError("LoopThread.run() called on the loop's own thread")
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)


#: This process's loop thread.
loop_thread = LoopThread()
