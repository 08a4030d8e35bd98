"""The one place a process's background threads start: the reaper, refreshers, the exporter.

Each is a :class:`ProcessThread`: a daemon thread that starts on first use
(``ensure_running()``, cheap once it runs), never at construction, so a
pre-fork server's master, which never serves, runs none of them. Threads do
not survive ``fork``: this module's single at-fork hook resets every
:class:`ProcessThread` in the child, and starts again at once those whose
owner wants them there (``in_child()``: a reaper with apps to watch, a
refresher that was following its registry, an exporter that was exporting).

It also holds the process's reaper: one thread that calls ``prune()`` on
every pool with an ``idle_timeout``, every ``idle_timeout / 4`` seconds, so a
quiet server frees idle apps within ``1.25 x idle_timeout``.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

__all__ = ["ProcessThread", "Prunable", "forking_helper", "reaper"]

logger = logging.getLogger("appmux")

#: Never sleep less than this, whatever the idle timeout (a busy loop helps no one).
MIN_INTERVAL = 0.01


class ProcessThread:
    """A daemon thread of this process, started on first use and again in a forked child.

    ``run(stop)`` is the thread's body; it returns once ``stop`` is set.
    ``in_child(was_running)`` says whether a forked child should start the
    thread at once (default: if it ran in the parent); it may also reset the
    owner's per-process state. ``at_exit`` runs once at interpreter exit.
    """

    def __init__(
        self,
        name: str,
        run: Callable[[threading.Event], None],
        *,
        in_child: Callable[[bool], bool] | None = None,
        at_exit: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self._run = run
        self._in_child = in_child
        self._at_exit = at_exit
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        _threads.add(self)

    def ensure_running(self) -> None:
        """Start the thread in this process unless it runs or was stopped."""
        if self._pid == os.getpid() or self.stopping.is_set():
            return
        with self._lock:
            if self._pid == os.getpid() or self.stopping.is_set():
                return
            self._thread = threading.Thread(
                target=self._run, args=(self.stopping,), name=self.name, daemon=True
            )
            self._pid = os.getpid()
            self._thread.start()

    @property
    def running(self) -> bool:
        """Whether this process's thread is alive."""
        thread = self._thread
        return self._pid == os.getpid() and thread is not None and thread.is_alive()

    @property
    def started(self) -> bool:
        """Whether the thread was started in this process (it may have stopped since)."""
        return self._pid == os.getpid()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread for good (its body finishes its current step first)."""
        self.stopping.set()
        thread = self._thread
        if thread is not None and self.running and thread is not threading.current_thread():
            thread.join(timeout)

    def _exit(self) -> None:
        if self._at_exit is not None and self.started:
            try:
                self._at_exit()
            except Exception:
                logger.exception("%s failed at exit", self.name)

    def _forget(self) -> None:
        """In a forked child: the parent's thread is gone, and its lock may have been held."""
        self._pid = 0
        self._thread = None
        self._lock = threading.Lock()

    def _after_fork_in_child(self) -> None:
        was_running = self._pid != 0
        self._forget()
        wanted = self._in_child(was_running) if self._in_child is not None else was_running
        if wanted and not self.stopping.is_set():
            self.ensure_running()


_threads: weakref.WeakSet[ProcessThread] = weakref.WeakSet()
# False in a child forked by forking_helper(): it resets every thread, starts none.
_restart_in_child = True


@contextmanager
def forking_helper() -> Iterator[None]:
    """Fork inside this block for a helper process (the admin listener) that runs none
    of the serving threads: its at-fork reset starts nothing."""
    global _restart_in_child
    _restart_in_child = False
    try:
        yield
    finally:
        _restart_in_child = True


def _after_fork_in_child() -> None:
    for thread in list(_threads):
        if _restart_in_child:
            thread._after_fork_in_child()
        else:
            thread._forget()


def _at_exit() -> None:
    for thread in list(_threads):
        thread._exit()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)


# -- the reaper ---------------------------------------------------------------------


class Prunable(Protocol):
    """What the reaper needs of a pool."""

    def prune(self) -> int: ...

    def __len__(self) -> int: ...


class Reaper:
    """Prunes every watched pool on its own schedule, from one thread per process."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        # pool -> seconds between its sweeps; weak, so a dropped pool is forgotten.
        self._pools: weakref.WeakKeyDictionary[Prunable, float] = weakref.WeakKeyDictionary()
        self._thread = ProcessThread("appmux-reaper", self._run, in_child=self._holds_values)

    def watch(self, pool: Prunable, idle_timeout: float) -> None:
        """Prune ``pool`` every ``idle_timeout / 4`` seconds."""
        with self._wake:
            self._pools[pool] = max(MIN_INTERVAL, idle_timeout / 4)
            self._wake.notify()
        self._thread.ensure_running()

    def watch_pool(self, pool: Any) -> None:
        """Watch a pool on the schedule its own ``idle_timeout`` option sets."""
        self.watch(pool, pool.options.idle_timeout or 0)

    def _holds_values(self, _was_running: bool) -> bool:
        # Asked in a forked child, before its thread starts: the parent's
        # condition may have been held at fork, so the child gets a fresh one.
        self._wake = threading.Condition()
        return any(len(pool) for pool in list(self._pools))

    def _run(self, stop: threading.Event) -> None:
        due: dict[int, float] = {}  # id(pool) -> when it is next swept
        while not stop.is_set():
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

    def watched(self) -> list[Prunable]:
        """The pools this process's reaper sweeps."""
        with self._wake:
            return list(self._pools)

    def running(self) -> bool:
        """Whether this process's reaper thread is alive."""
        return self._thread.running


#: This process's reaper.
reaper = Reaper()
