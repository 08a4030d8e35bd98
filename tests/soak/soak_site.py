"""The soak suite's site: every app records its life to a per-worker ledger file.

Served by ``appmux serve soak.toml`` (on gunicorn or waitress); the suite reads
``$SOAK_LEDGER/ledger-<pid>.log`` afterwards. One line per event, tab-separated:

* ``create IID KEY`` / ``fail KEY`` (an injected factory failure)
* ``close IID KEY ACTIVE`` (``ACTIVE``: requests inside the app when it was closed)
* ``late IID`` (a request entered an app after its ``close()``)
* ``exit IID KEY POOLED`` (at process exit, an app never closed; ``POOLED``: 1 if
  its dispatcher still holds it as live)

Faults injected on purpose: 5 % of ``create_app`` calls raise, 5 % take 200 ms,
10 % of apps raise from ``close()`` (after recording it).
"""

from __future__ import annotations

import atexit
import itertools
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from werkzeug.exceptions import NotFound

from appmux import DispatcherMiddleware, HostDispatcher, PathDispatcher, SubdomainDispatcher

TENANTS = 1000
DOMAIN = "soak.test"
PATH_TENANTS = ("alpha", "beta", "gamma", "delta", "epsilon")
FAIL_RATE = 0.05
SLOW_RATE = 0.05
CLOSE_FAIL_RATE = 0.10


class Ledger:
    """Appends event lines to this process's ledger file (re-opened after a fork)."""

    def __init__(self, folder: str | None) -> None:
        self.folder = Path(folder) if folder else None
        self._fd: int | None = None
        self._pid = 0
        # Two request threads of a fresh worker must not both see the file as open
        # while only one has opened it: the other would lose its line.
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    def write(self, *fields: object) -> None:
        if self.folder is None:
            return
        line = "\t".join(str(f) for f in fields) + "\n"
        with self._lock:
            if self._pid != os.getpid():
                path = self.folder / f"ledger-{os.getpid()}.log"
                self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                self._pid = os.getpid()
            fd = self._fd
        assert fd is not None
        os.write(fd, line.encode())


ledger = Ledger(os.environ.get("SOAK_LEDGER"))
_serial = itertools.count()
_rng = random.Random()
_unclosed: dict[str, TenantApp] = {}
_unclosed_lock = threading.Lock()


class TenantApp:
    """One tenant's app: names itself in every body, counts requests inside it."""

    def __init__(self, kind: str, key: str) -> None:
        self.kind, self.key = kind, key
        self.iid = f"{os.getpid()}-{next(_serial)}"
        self.fail_close = _rng.random() < CLOSE_FAIL_RATE
        self.active = 0
        self.closed = 0
        self._lock = threading.Lock()
        with _unclosed_lock:
            _unclosed[self.iid] = self
        ledger.write("create", self.iid, f"{kind}:{key}")

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Body:
        with self._lock:
            self.active += 1
            if self.closed:
                ledger.write("late", self.iid)
        try:
            path = environ.get("PATH_INFO", "")
            head = f"{self.kind}={self.key} instance={self.iid}\n"
            chunks: Iterator[bytes]
            if path == "/stream":
                chunks = self._stream(head)
            else:
                if path == "/slow":
                    query = parse_qs(environ.get("QUERY_STRING", ""))
                    time.sleep(min(float(query.get("s", ["1"])[0]), 5.0))
                chunks = iter([head.encode()])
            start_response("200 OK", [("Content-Type", "text/plain")])
        except BaseException:
            self._leave()
            raise
        return Body(chunks, self._leave)

    @staticmethod
    def _stream(head: str) -> Iterator[bytes]:
        for i in range(20):
            yield f"{head.strip()} chunk={i}\n".encode()
            time.sleep(0.01)

    def _leave(self) -> None:
        with self._lock:
            self.active -= 1

    def close(self) -> None:
        with self._lock:
            self.closed += 1
            active = self.active
        with _unclosed_lock:
            _unclosed.pop(self.iid, None)
        ledger.write("close", self.iid, f"{self.kind}:{self.key}", active)
        if self.fail_close:
            raise RuntimeError(f"injected: close() of {self.iid} fails")


class Body:
    """A response body whose ``close()`` tells the app the request left it."""

    def __init__(self, chunks: Iterator[bytes], leave: Any) -> None:
        self._chunks = chunks
        self._leave = leave

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        leave, self._leave = self._leave, None
        if leave is not None:
            leave()


def _inject_faults(key: str) -> None:
    roll = _rng.random()
    if roll < FAIL_RATE:
        ledger.write("fail", key)
        raise RuntimeError(f"injected: create_app({key!r}) fails")
    if roll < FAIL_RATE + SLOW_RATE:
        time.sleep(0.2)


def make_tenant(key: str) -> Any:
    """``t000``..``t999`` are tenants; ``u...`` get ``NotFound()``, anything else ``None``."""
    if key.startswith("u"):
        return NotFound()
    if not (len(key) == 4 and key[0] == "t" and key[1:].isdigit()):
        return None
    _inject_faults(f"tenant:{key}")
    return TenantApp("tenant", key)


def make_path_tenant(name: str) -> Any:
    if name not in PATH_TENANTS:
        return None
    _inject_faults(f"path:{name}")
    return TenantApp("path", name)


def plain(name: str) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"mount={name}\n".encode()]

    return app


IDLE_TIMEOUT = float(os.environ.get("SOAK_IDLE_TIMEOUT", "3"))
tenants = SubdomainDispatcher(DOMAIN, make_tenant, max_instances=200, idle_timeout=IDLE_TIMEOUT)
paths = PathDispatcher(plain("path-default"), make_path_tenant, idle_timeout=IDLE_TIMEOUT)
application = HostDispatcher(
    {
        DOMAIN: DispatcherMiddleware(plain("root"), {"/static": plain("static"), "/p": paths}),
        f"*.{DOMAIN}": tenants,
    }
)


@atexit.register
def _record_unclosed() -> None:
    with _unclosed_lock:
        pooled = {id(app) for app in tenants.instances.values()}
        pooled |= {id(app) for app in paths.instances.values()}
        for iid, app in _unclosed.items():
            ledger.write("exit", iid, f"{app.kind}:{app.key}", int(id(app) in pooled))
