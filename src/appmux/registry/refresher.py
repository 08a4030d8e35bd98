"""The background thread that keeps a process's registry snapshot current.

One :class:`Refresher` per dispatcher and process: it checks the registry's
revision every ``interval`` seconds (a single cheap query) and, on PostgreSQL,
also wakes up as soon as a write's ``NOTIFY`` arrives. When the revision moved,
it reads the change log after its own revision and applies it to its
:class:`~appmux.registry.snapshot.Snapshot` (``Snapshot.evolve``: the cost of
the change, not of the registry), then hands the new snapshot to ``install``.
Requests never wait for it and never query anything.

It reads the whole registry only on first load; when the log no longer
reaches back to its revision (pruned); when more than ``max_delta`` changes
are pending; when the database's revision is behind its own (a restored
backup); and every ``resync_interval`` seconds with random jitter, so that
workers never re-read all at once. Each whole read is logged at INFO with its
reason.

An unreachable registry is logged once as a WARNING when the outage starts and
once as INFO when it ends; meanwhile the process serves its last snapshot. The
thread is a :class:`~appmux.background.ProcessThread`: it starts on first use,
and at once in a forked child of a process where it ran, never in a master
that does not serve.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from ..background import ProcessThread
from .snapshot import View
from .store import Listener, Registry, RegistryUnavailable, SchemaTooNew

__all__ = ["Refresher"]

logger = logging.getLogger("appmux")

#: After a NOTIFY, how often and how far apart to re-check until its revision shows.
CATCH_UP_TRIES = 20
CATCH_UP_PAUSE = 0.025
#: The defaults of ``[registry] max_delta`` and ``resync_interval``.
MAX_DELTA = 1000
RESYNC_INTERVAL = 600.0
#: A whole re-read comes after ``resync_interval`` times a factor drawn in this range.
RESYNC_JITTER = (0.8, 1.2)


class Refresher:
    """Polls (and listens to) ``registry``; calls ``install(view)`` on each change.

    The view is a :class:`Snapshot` read whole by ``registry.snapshot()``, or
    what ``read_whole`` reads (an on-demand view); either is then evolved by
    the change log.
    """

    def __init__(
        self,
        registry: Registry,
        install: Callable[[View], None],
        interval: float,
        *,
        max_delta: int = MAX_DELTA,
        resync_interval: float = RESYNC_INTERVAL,
        read_whole: Callable[[], View] | None = None,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"refresh_interval must be positive, not {interval!r}")
        if not isinstance(max_delta, int) or isinstance(max_delta, bool) or max_delta < 1:
            raise ValueError(f"max_delta must be a positive integer, not {max_delta!r}")
        if not resync_interval > 0:
            raise ValueError(f"resync_interval must be positive, not {resync_interval!r}")
        self.registry = registry
        self.interval = interval
        self.max_delta = max_delta
        self.resync_interval = resync_interval
        self._install = install
        self._read = read_whole if read_whole is not None else registry.snapshot
        self._snapshot: View | None = None
        self._resync_at = 0.0
        # A forked child that holds a snapshot (a warmed master's worker) follows at once.
        self._thread = ProcessThread(
            "appmux-registry-refresher",
            self._run,
            in_child=lambda was_running: was_running or self.revision is not None,
        )
        self._stop = self._thread.stopping
        #: ``time.time()`` of the last successful check (``None`` before the first).
        self.checked_at: float | None = None
        #: ``time.time()`` when the installed snapshot was read.
        self.installed_at: float | None = None
        #: Revision checks made, and failed checks, by this process.
        self.checks = 0
        self.errors = 0
        self.outage: str | None = None
        #: Whether this process's thread holds a ``LISTEN`` connection now.
        self.listening = False
        #: Change sets applied, and whole reads, by this process (with the last reason).
        self.applied = 0
        self.full_reads = 0
        self.last_full_read: str | None = None

    @property
    def revision(self) -> int | None:
        """The revision of the installed snapshot (``None`` before the first)."""
        return self._snapshot.revision if self._snapshot is not None else None

    # -- loading ------------------------------------------------------------------

    def load_now(self) -> View | None:
        """Read and install a snapshot now; ``None`` (logged) if the registry is down.

        :class:`SchemaTooNew` propagates: the process must not start.
        """
        try:
            return self._read_whole("first load")
        except RegistryUnavailable as exc:
            self._failed(exc)
            return None

    def check(self) -> bool:
        """One revision check, and the changes since if it moved; True if one was installed."""
        revision = self.registry.revision()
        self.checks += 1
        self.checked_at = time.time()
        current = self._snapshot
        if current is None:
            self._read_whole("first load")
            return True
        if time.monotonic() >= self._resync_at:
            self._read_whole(f"periodic resync (every {self.resync_interval:g} s)")
            return True
        if revision == self.revision:
            self._recovered()
            return False
        changes = self.registry.changes_since(current.revision, self.max_delta)
        if isinstance(changes, str):
            self._read_whole(changes)
            return True
        if changes.revision == current.revision:
            self._recovered()
            return False
        self.applied += 1
        self._installed(current.evolve(changes))
        return True

    def _read_whole(self, reason: str) -> View:
        started = time.perf_counter()
        snapshot = self._read()
        self.full_reads += 1
        self.last_full_read = reason
        self._installed(snapshot)
        logger.info(
            "registry read whole: %s (revision %s, %d tenants, %.0f ms)",
            reason,
            snapshot.revision,
            len(snapshot),
            (time.perf_counter() - started) * 1000,
        )
        self._resync_at = time.monotonic() + self.resync_interval * random.uniform(*RESYNC_JITTER)
        return snapshot

    def _installed(self, snapshot: View) -> None:
        self._install(snapshot)
        self._snapshot = snapshot
        self.checked_at = self.installed_at = time.time()
        self._recovered()

    def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        if self.outage is None:
            self.outage = str(exc)
            logger.warning(
                "registry unreachable, serving the last snapshot (revision %s): %s",
                self.revision,
                exc,
            )

    def _recovered(self) -> None:
        if self.outage is not None:
            self.outage = None
            logger.info("registry reachable again (revision %s)", self.revision)

    # -- the thread -------------------------------------------------------------------

    def ensure_running(self) -> None:
        """Start this process's thread if it is not running (cheap when it is)."""
        self._thread.ensure_running()

    @property
    def started(self) -> bool:
        """Whether this process started its thread (it may have been stopped since)."""
        return self._thread.started

    @property
    def running(self) -> bool:
        """Whether this process's thread is alive."""
        return self._thread.running

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread for good (it finishes its current check first)."""
        self._thread.stop(timeout)

    def _run(self, stop: threading.Event) -> None:
        # Each process draws its own time to re-read (forked workers inherit one).
        self._resync_at = time.monotonic() + self.resync_interval * random.uniform(*RESYNC_JITTER)
        listener: Listener | None = None
        while not stop.is_set():
            try:
                if listener is None and self.registry.notifies:
                    listener = self.registry.listener()
                    self.listening = True
                started = time.monotonic()
                self.check()
                if listener is None:
                    # At a fixed rate: a change waits at most one interval, not one plus a check.
                    stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
                    continue
                # Wakes early on NOTIFY; the timeout is the polling fallback.
                announced = listener.wait(self.interval)
                if announced is not None:
                    self._catch_up(announced)
            except SchemaTooNew as exc:
                self._failed(exc)
                stop.wait(self.interval)
            except Exception as exc:  # the registry is down: keep serving, retry
                self._failed(exc)
                if listener is not None:
                    listener.close()
                    listener = None
                    self.listening = False
                stop.wait(self.interval)
        if listener is not None:
            listener.close()
            self.listening = False

    def _catch_up(self, announced: int) -> None:
        """Check until the announced revision is read (a notification can outrun
        the commit's visibility to this process's other connection)."""
        for _ in range(CATCH_UP_TRIES):
            if self._stop.is_set() or (self.revision or 0) >= announced:
                return
            self.check()
            if (self.revision or 0) < announced:
                time.sleep(CATCH_UP_PAUSE)
