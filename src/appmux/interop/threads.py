"""The one bounded thread pool that serves every WSGI app under an ASGI server.

Whatever the number of apps and tenant instances, a process has one pool of
``settings.threads`` threads (created on first use, again in a forked child):
no thread is made per app. Calls carry the caller's contextvars.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .settings import settings

__all__ = ["run_in_thread", "thread_pool"]

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pid = 0
_lock = threading.Lock()


def thread_pool() -> ThreadPoolExecutor:
    """This process's pool (made on first use with ``settings.threads`` threads)."""
    global _pool, _pid
    pool = _pool
    if pool is not None and _pid == os.getpid():
        return pool
    with _lock:
        if _pool is None or _pid != os.getpid():
            _pool = ThreadPoolExecutor(settings.threads, thread_name_prefix="appmux-wsgi")
            _pid = os.getpid()
        return _pool


def _forget_after_fork() -> None:
    global _pool, _pid, _lock
    _pool, _pid, _lock = None, 0, threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


async def run_in_thread(func: Callable[..., T], *args: Any) -> T:
    """``func(*args)`` in the shared pool, with this task's contextvars."""
    context = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(thread_pool(), context.run, func, *args)
