"""A bounded, single-flight pool of lazily created instances, keyed by string.

:class:`InstancePool` is pure logic (no WSGI): the lazy dispatchers keep one
app per tenant in it. What it guarantees:

* A hit is a lock-free dict lookup (plus an ``OrderedDict.move_to_end`` when
  ``max_instances`` is set, and a clock read when ``idle_timeout`` is set).
* Creation is single-flight per key: concurrent first requests for one key run
  the factory once and all receive its result. The pool's lock is never held
  while a factory runs, so a slow key never delays another key.
* A factory that raises is logged to the ``appmux`` logger; the key is then
  refused with :class:`CreationFailed` for ``failure_backoff`` seconds before
  the next attempt. Nothing is cached as a success.
* ``None`` from the factory (no such tenant) is cached as a negative entry for
  ``negative_ttl`` seconds, at most ``max_negative`` of them. So is a value for
  which ``is_answer(value)`` is true (the dispatchers' ``NotFound()``): it is
  returned by :meth:`InstancePool.get` while it lasts but is never live.
* A request that finds another request making its key's value waits at most
  ``create_timeout`` seconds, then gets :class:`CreationFailed` (the creation
  itself goes on, and its value is kept).
* ``max_instances`` bounds live instances, least recently used leaving first;
  ``idle_timeout`` retires instances unused for that many seconds: a lookup
  never returns one (it gets a fresh value instead), and the process's reaper
  thread (:mod:`appmux.background`, through ``watch``) retires them when no
  lookups come at all. Retired values are handed to ``on_retire`` (outside the lock).

The options a user sets are one :class:`PoolOptions`: every lazy dispatcher,
the config schema and the site builder take them from there.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Generic, TypeVar

__all__ = [
    "STAT_NAMES",
    "CreationFailed",
    "FailureRecord",
    "InstancePool",
    "PoolOptions",
    "PoolStats",
    "WouldCreate",
    "summarize_exception",
]

#: How many recent factory failures a pool remembers, and creation times it keeps
#: for a metrics exporter to drain.
RECENT_FAILURES = 20
CREATION_TIMES = 4096
#: How many hits of a bounded pool are remembered for its LRU order between creations.
RECENT_USES = 4096

T = TypeVar("T")

logger = logging.getLogger("appmux")


class WouldCreate(Exception):
    """``get(key, create=False)`` found no value: getting one means creating or waiting."""


class CreationFailed(Exception):
    """The factory failed for ``key``; try again in ``retry_after`` seconds."""

    def __init__(self, key: str, retry_after: float) -> None:
        super().__init__(f"creating the instance for {key!r} failed")
        self.key = key
        self.retry_after = retry_after


@dataclass(frozen=True)
class PoolOptions:
    """The options of a pool that users set: one declaration for every dispatcher and config.

    ``kind`` in each field's metadata tells the config schema how to check it:
    ``"count"`` (a whole number >= 1) or ``"seconds"`` (``positive``: > 0, else >= 0).
    """

    #: At most this many live values, least recently used evicted first (None: no bound).
    max_instances: int | None = field(default=None, metadata={"kind": "count"})
    #: Retire values unused for this many seconds (None: never).
    idle_timeout: float | None = field(default=None, metadata={"kind": "seconds", "positive": True})
    #: Seconds a "no value" answer is remembered.
    negative_ttl: float = field(default=5.0, metadata={"kind": "seconds", "positive": False})
    #: Seconds a key is refused after its factory raised.
    failure_backoff: float = field(default=1.0, metadata={"kind": "seconds", "positive": False})
    #: Seconds a request waits for another request's creation of the same key.
    create_timeout: float = field(default=30.0, metadata={"kind": "seconds", "positive": True})
    #: At most this many requests in flight on one key's app in this process (None: no cap).
    max_concurrency: int | None = field(default=None, metadata={"kind": "count"})
    #: Seconds a request over ``max_concurrency`` waits for a slot before its 503.
    queue_timeout: float = field(default=0.0, metadata={"kind": "seconds", "positive": False})

    def __post_init__(self) -> None:
        for option in fields(self):
            value = getattr(self, option.name)
            if value is None and option.default is None:
                continue
            problem = self.problem(option.name, value)
            if problem is not None:
                raise ValueError(f"{option.name} {problem}, not {value!r}")

    @classmethod
    def problem(cls, name: str, value: Any) -> str | None:
        """What is wrong with ``value`` for option ``name`` (``"must be ..."``), or ``None``.

        The one check of every option, for the constructors and the config schema.
        """
        option = next(option for option in fields(cls) if option.name == name)
        if option.metadata["kind"] == "count":
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
            return None if ok else "must be a whole number >= 1"
        if not isinstance(value, int | float) or isinstance(value, bool):
            return "must be a number of seconds"
        if value < 0 or (option.metadata["positive"] and value == 0):
            # The wording since 0.1; 0 is allowed where the option is not "positive".
            return "must be positive"
        return None

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every option's name, in declaration order."""
        return tuple(option.name for option in fields(cls))

    @classmethod
    def from_keywords(cls, owner: str, keywords: Mapping[str, Any]) -> PoolOptions:
        """Options from a constructor's ``**options``; an unknown name is a ``TypeError``."""
        for name in keywords:
            if name not in cls.names():
                raise TypeError(f"{owner}() got an unexpected keyword argument {name!r}")
        return cls(**keywords)


#: The counters of :class:`PoolStats`, as the metrics and the status page name them.
STAT_NAMES = (
    "live",
    "negative",
    "hits",
    "misses",
    "creations",
    "creation_failures",
    "evictions",
    "rejections",
)


@dataclass(frozen=True)
class PoolStats:
    """A snapshot of a pool's counters.

    ``hits`` counts lookups answered from the cache (live or negative); it is
    updated without a lock, so under heavy concurrency it may undercount
    slightly. The other counters are exact.
    """

    live: int
    negative: int
    hits: int
    misses: int
    creations: int
    creation_failures: int
    evictions: int
    #: Requests answered 503 because their key's app had ``max_concurrency`` in flight.
    rejections: int = 0


@dataclass(frozen=True)
class FailureRecord:
    """One factory failure: when (``time.time()``), for which key, and a one-line summary."""

    at: float
    key: str
    summary: str


# Credentials an exception message may carry: "user:pw@" in URLs, "password=...".
_SECRETS = re.compile(
    r"(?P<url>://[^/\s:@]+:)[^@\s/]+@|(?P<key>\b(?:password|passwd|pwd|secret|token|api[_-]?key)\b\s*[=:]\s*)\S+",
    re.IGNORECASE,
)


def _redact(match: re.Match[str]) -> str:
    if match["url"]:
        return f"{match['url']}***@"
    return f"{match['key']}***"


def summarize_exception(exc: BaseException) -> str:
    """``Type: first line of the message`` with credentials masked, at most 200 characters.

    No traceback and no request data: it is shown on the status page.
    """
    text = str(exc).strip().splitlines()
    line = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    line = _SECRETS.sub(_redact, line)
    return line if len(line) <= 200 else line[:199] + "…"


class _Entry(Generic[T]):
    __slots__ = ("value", "last_used")

    def __init__(self, value: T, now: float) -> None:
        self.value = value
        self.last_used = now


class _Creation(Generic[T]):
    """One in-flight factory call that concurrent requests wait on."""

    __slots__ = ("done", "value", "failed", "discard")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: T | None = None
        self.failed = False
        # Set by invalidate() while the factory runs: its value is already stale.
        self.discard = False


class InstancePool(Generic[T]):
    """Lazily created values per key, bounded in number and age.

    ``factory(key)`` returns the value for a key, or ``None`` when the key has
    no value (cached negatively). A value for which ``is_answer(value)`` is true
    is cached negatively too, and returned in place of ``None``.
    ``accept_key(key)``, when given, is checked before a key is created or
    stored; a refused key is answered ``None`` and never reaches the factory.
    ``watch(pool)`` is called once, when a pool with ``idle_timeout`` first holds
    a value: the caller's reaper then calls :meth:`prune` now and then.
    """

    def __init__(
        self,
        factory: Callable[[str], T | None],
        options: PoolOptions | None = None,
        *,
        max_negative: int = 1024,
        accept_key: Callable[[str], bool] | None = None,
        is_answer: Callable[[T], bool] | None = None,
        on_retire: Callable[[str, T], None] | None = None,
        watch: Callable[[InstancePool[T]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        **keywords: Any,
    ) -> None:
        if options is None:
            options = PoolOptions.from_keywords("InstancePool", keywords)
        elif keywords:
            raise TypeError("give the pool's options either as PoolOptions or as keywords")
        if max_negative < 0:
            raise ValueError("max_negative must be >= 0")
        self.options = options
        self._factory = factory
        self._max_instances = options.max_instances
        self._idle_timeout = options.idle_timeout
        self._negative_ttl = options.negative_ttl
        self._max_negative = max_negative
        self._failure_backoff = options.failure_backoff
        self._create_timeout = options.create_timeout
        self._accept_key = accept_key
        self._is_answer = is_answer
        self._on_retire = on_retire
        self._watch = watch
        self._clock = clock
        self._track_use = self._max_instances is not None or self._idle_timeout is not None

        self._lock = threading.Lock()
        # Every change to these tables happens under the lock; hits only read them.
        self._live: OrderedDict[str, _Entry[T]] = OrderedDict()
        # key -> (expiry, answer): None, or a value is_answer() accepted
        self._negative: OrderedDict[str, tuple[float, T | None]] = OrderedDict()
        self._failed: OrderedDict[str, float] = OrderedDict()  # key -> retry time
        self._creating: dict[str, _Creation[T]] = {}
        # Keys hit since the LRU order was last brought up to date: a hit appends
        # (one thread-safe deque call, no lock), the next eviction replays them.
        self._used: deque[str] = deque(maxlen=RECENT_USES)
        self._next_sweep = clock() + self._idle_timeout if self._idle_timeout else math.inf
        self._watched = False

        #: The last factory failures, newest last (for status pages).
        self.recent_failures: deque[FailureRecord] = deque(maxlen=RECENT_FAILURES)
        #: Seconds each successful creation took, oldest first; a metrics exporter
        #: drains it (bounded, so nothing grows when no one does).
        self.creation_times: deque[float] = deque(maxlen=CREATION_TIMES)

        self._hits = 0
        self._misses = 0
        self._creations = 0
        self._creation_failures = 0
        self._evictions = 0

    # -- the hot path ------------------------------------------------------

    def get(self, key: str, create: bool = True) -> T | None:
        """The value for ``key``, creating it on first use.

        Returns ``None`` for a key without a value. Raises
        :class:`CreationFailed` while the key is backing off after a failure,
        or when another request's creation of it took over ``create_timeout``.
        With ``create=False`` it never blocks: where it would create the value
        or wait for another creation it raises ``WouldCreate`` instead
        (an event loop then asks again from a thread).
        """
        entry = self._live.get(key)
        if entry is not None:
            self._hits += 1
            if not self._track_use:
                return entry.value
            if self._max_instances is not None:
                self._used.append(key)
            if self._idle_timeout is not None:
                now = self._clock()
                if now - entry.last_used >= self._idle_timeout:
                    # Idle too long: retired, never revived by this lookup.
                    self._retire_entry(key, entry)
                    return self._get_slow(key, create)
                entry.last_used = now
                if now >= self._next_sweep:
                    self.prune()
            return entry.value
        return self._get_slow(key, create)

    # -- the slow path -----------------------------------------------------

    def _get_slow(self, key: str, create: bool = True) -> T | None:
        now = self._clock()
        if now >= self._next_sweep:
            self.prune()
        negative = self._negative.get(key)
        if negative is not None and negative[0] > now:
            self._hits += 1
            return negative[1]
        if self._accept_key is not None and not self._accept_key(key):
            return None
        with self._lock:
            entry = self._live.get(key)
            if entry is not None:  # created while we were getting here
                self._hits += 1
                return entry.value
            retry_at = self._failed.get(key)
            if retry_at is not None and retry_at > now:
                self._misses += 1
                raise CreationFailed(key, retry_at - now)
            if not create:
                raise WouldCreate(key)
            self._misses += 1
            if retry_at is not None:
                del self._failed[key]
            creation = self._creating.get(key)
            owner = creation is None
            if creation is None:
                creation = self._creating[key] = _Creation()
        if owner:
            self._create(key, creation)
        elif not creation.done.wait(self._create_timeout):
            # The creation goes on; this request stops waiting for it.
            raise CreationFailed(key, max(1.0, self._failure_backoff))
        if creation.failed:
            raise CreationFailed(key, self._failure_backoff)
        return creation.value

    def _create(self, key: str, creation: _Creation[T]) -> None:
        started = time.perf_counter()
        try:
            value = self._factory(key)
        except BaseException as exc:
            if isinstance(exc, Exception):
                logger.exception("creating the instance for %r failed", key)
                self.recent_failures.append(
                    FailureRecord(time.time(), key, summarize_exception(exc))
                )
            with self._lock:
                self._creation_failures += 1
                self._failed[key] = self._clock() + self._failure_backoff
                self._trim(self._failed, self._max_negative)
                del self._creating[key]
            creation.failed = True
            creation.done.set()
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt and the like, after waking the waiters
            return
        retired: list[tuple[str, T]] = []
        first_watch = False
        with self._lock:
            del self._creating[key]
            now = self._clock()
            if value is None or (self._is_answer is not None and self._is_answer(value)):
                if self._negative_ttl > 0 and self._max_negative > 0:
                    self._negative[key] = (now + self._negative_ttl, value)
                    self._negative.move_to_end(key)
                    self._trim(self._negative, self._max_negative)
            elif creation.discard:
                # Invalidated while it was being made: its waiters get it, then it retires.
                self._creations += 1
                self._evictions += 1
                retired.append((key, value))
            else:
                self._creations += 1
                self.creation_times.append(time.perf_counter() - started)
                self._negative.pop(key, None)
                if self._max_instances is not None:
                    self._replay_uses()  # first: the new value is the most recently used
                self._live[key] = _Entry(value, now)
                if self._max_instances is not None:
                    retired += self._evict_over(self._max_instances)
                if self._idle_timeout is not None and not self._watched:
                    self._watched = first_watch = True
        creation.value = value
        creation.done.set()
        if first_watch and self._watch is not None:
            self._watch(self)
        self._retire(retired)

    def _replay_uses(self) -> None:
        """Bring the LRU order up to date with the hits since (lock held)."""
        live = self._live
        used = self._used
        while used:
            key = used.popleft()
            if key in live:
                live.move_to_end(key)

    def _evict_over(self, limit: int) -> list[tuple[str, T]]:
        """Evict least recently used values down to ``limit`` (lock held)."""
        live = self._live
        evicted = []
        while len(live) > limit:
            old_key, old = live.popitem(last=False)
            self._evictions += 1
            evicted.append((old_key, old.value))
        return evicted

    @staticmethod
    def _trim(table: OrderedDict[str, Any], limit: int) -> None:
        while len(table) > limit:
            table.popitem(last=False)

    def _retire_entry(self, key: str, entry: _Entry[T]) -> None:
        """Retire ``entry`` if it is still ``key``'s live entry."""
        with self._lock:
            if self._live.get(key) is not entry:
                return  # another thread retired or replaced it already
            del self._live[key]
            self._evictions += 1
        self._retire([(key, entry.value)])

    def _retire(self, retired: list[tuple[str, T]]) -> None:
        if self._on_retire is None:
            return
        for key, value in retired:
            try:
                self._on_retire(key, value)
            except Exception:
                logger.exception("retiring the instance for %r failed", key)

    # -- control and introspection ----------------------------------------

    def prune(self) -> int:
        """Retire instances idle for ``idle_timeout`` or longer; return how many.

        Runs by itself during lookups about every ``idle_timeout / 2`` seconds,
        and from the process's reaper thread when no lookups come.
        """
        if self._idle_timeout is None:
            return 0
        if not self._lock.acquire(blocking=False):
            return 0  # another thread is busy with the pool; prune next time
        try:
            now = self._clock()
            self._next_sweep = now + self._idle_timeout / 2
            cutoff = now - self._idle_timeout
            stale = [k for k, e in self._live.items() if e.last_used <= cutoff]
            retired = [(k, self._live.pop(k).value) for k in stale]
            self._evictions += len(retired)
            expired = [k for k, (t, _) in self._negative.items() if t <= now]
            for k in expired:
                del self._negative[k]
        finally:
            self._lock.release()
        self._retire(retired)
        return len(retired)

    def invalidate(self, key: str) -> bool:
        """Forget ``key`` (live, negative or failed); True if anything was held.

        A value the factory is making for ``key`` right now is retired as soon
        as it is made (its waiting requests still get it): it may be stale.
        """
        with self._lock:
            entry = self._live.pop(key, None)
            negative = self._negative.pop(key, None)
            failed = self._failed.pop(key, None)
            creation = self._creating.get(key)
            if creation is not None:
                creation.discard = True
        if entry is not None:
            self._retire([(key, entry.value)])
        return entry is not None or negative is not None or failed is not None

    def clear(self) -> None:
        """Forget every key; live values are retired, values being made are discarded."""
        with self._lock:
            for creation in self._creating.values():
                creation.discard = True
            retired = [(k, e.value) for k, e in self._live.items()]
            self._live.clear()
            self._negative.clear()
            self._failed.clear()
            self._used.clear()
        self._retire(retired)

    def keys(self) -> list[str]:
        """The keys with a live value, least recently used first."""
        return [key for key, _ in self.items()]

    def items(self) -> list[tuple[str, T]]:
        """``(key, value)`` for every live value, least recently used first."""
        with self._lock:
            self._replay_uses()
            return [(key, entry.value) for key, entry in self._live.items()]

    def __contains__(self, key: object) -> bool:
        return key in self._live

    def __len__(self) -> int:
        return len(self._live)

    def stats(self) -> PoolStats:
        """A snapshot of the counters."""
        return PoolStats(
            live=len(self._live),
            negative=len(self._negative),
            hits=self._hits,
            misses=self._misses,
            creations=self._creations,
            creation_failures=self._creation_failures,
            evictions=self._evictions,
        )
