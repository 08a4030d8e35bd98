"""One daemon thread per process that retires idle pool values when no lookups come.

An :class:`~appmux.pool.InstancePool` with ``idle_timeout`` retires idle values
during its own lookups, but a quiet server makes none. The first time such a
pool creates a value it calls :func:`watch`, which starts this process's reaper
thread if it is not running. The thread calls each watched pool's ``prune()``
every ``idle_timeout / 4`` seconds, so a value idle for ``idle_timeout`` is
gone within ``1.25 x idle_timeout``.

The thread starts lazily, so a pre-fork server's master, which never serves,
never runs one. A forked child gets a fresh reaper, started at once if it
inherited pools holding values (threads do not survive ``fork``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import Protocol

__all__ = ["Prunable", "running", "watch", "watched"]

logger = logging.getLogger("appmux")

#: Never sleep less than this, whatever the idle timeout (a busy loop helps no one).
MIN_INTERVAL = 0.01


class Prunable(Protocol):
    """What the reaper needs of a pool."""

    def prune(self) -> int: ...

    def __len__(self) -> int: ...


class _Reaper:
    def __init__(self) -> None:
        self._wake = threading.Condition()
        # pool -> seconds between its sweeps; weak, so a dropped pool is forgotten.
        self._pools: weakref.WeakKeyDictionary[Prunable, float] = weakref.WeakKeyDictionary()
        self._thread: threading.Thread | None = None

    def watch(self, pool: Prunable, idle_timeout: float) -> None:
        with self._wake:
            self._pools[pool] = max(MIN_INTERVAL, idle_timeout / 4)
            if self._thread is None:
                self._start()
            self._wake.notify()

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="appmux-reaper", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        due: dict[int, float] = {}  # id(pool) -> when it is next swept
        while True:
            with self._wake:
                pools = list(self._pools.items())
            now = time.monotonic()
            next_due = now + 60.0
            for pool, interval in pools:
                when = due.setdefault(id(pool), now + interval)
                if now >= when:
                    try:
                        pool.prune()
                    except Exception:  # a failing on_retire is logged by the pool
                        logger.exception("the reaper failed to prune a pool")
                    when = due[id(pool)] = now + interval
                next_due = min(next_due, when)
            live = {id(pool) for pool, _ in pools}
            for gone in [k for k in due if k not in live]:
                del due[gone]
            del pools
            with self._wake:
                self._wake.wait(max(0.0, next_due - time.monotonic()))

    def after_fork_in_child(self) -> None:
        # The parent's thread is gone and its lock may have been held at fork.
        self._wake = threading.Condition()
        self._thread = None
        if any(len(pool) for pool in list(self._pools)):
            self._start()

    def watched(self) -> list[Prunable]:
        with self._wake:
            return list(self._pools)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


_reaper = _Reaper()
os.register_at_fork(after_in_child=_reaper.after_fork_in_child)


def watch(pool: Prunable, idle_timeout: float) -> None:
    """Prune ``pool`` every ``idle_timeout / 4`` seconds from this process's reaper."""
    _reaper.watch(pool, idle_timeout)


def watched() -> list[Prunable]:
    """The pools this process's reaper sweeps."""
    return _reaper.watched()


def running() -> bool:
    """Whether this process's reaper thread is alive."""
    return _reaper.running
