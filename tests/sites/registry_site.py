"""A registry site for the real-server tests: every tenant app reports on its process.

``APPMUX_REGISTRY_URL`` names the registry. Tenants answer
``tenant=KEY theme=T pid=P instance=N``; ``/slow?s=1`` takes that long;
``/_stats`` answers this process's figures as JSON: ``create_app`` calls per
key, closes (with the requests inside the instance at that moment), the
registry's statement count, the refresher's checks and its recent installs.
``REGISTRY_LOAD`` sets ``load`` ("all" or "on-demand").
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

from appmux import Registry, TenantDispatcher, TenantRecord

_serial = itertools.count()
creations: Counter[str] = Counter()
closes: list[dict[str, Any]] = []


class ReportingApp:
    def __init__(self, record: TenantRecord) -> None:
        self.record = record
        self.instance = next(_serial)
        self.active = 0
        self._lock = threading.Lock()
        creations[record.key] += 1

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        # In flight from here until the server closes the body (PEP 3333), not
        # merely until this call returns: /slow streams its answer after a pause.
        with self._lock:
            self.active += 1
        path = environ["PATH_INFO"]
        if path == "/_stats":
            body = json.dumps(stats()).encode()
        else:
            seen: TenantRecord = environ["appmux.tenant"]
            theme = self.record.config.get("theme", "-")
            body = (
                f"tenant={seen.key} theme={theme} pid={os.getpid()} instance={self.instance}"
            ).encode()
        pause = 0.0
        if path == "/slow":
            pause = min(float(parse_qs(environ["QUERY_STRING"]).get("s", ["1"])[0]), 10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _Body(body, pause, self._left)

    def _left(self) -> None:
        with self._lock:
            self.active -= 1

    def close(self) -> None:
        closes.append(
            {
                "key": self.record.key,
                "instance": self.instance,
                "active": self.active,
                "at": time.time(),
            }
        )


class _Body:
    """A response that sends its bytes after ``pause`` seconds and reports its close."""

    def __init__(self, body: bytes, pause: float, on_close: Any) -> None:
        self.body = body
        self.pause = pause
        self.on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        if self.pause:
            time.sleep(self.pause)
        yield self.body

    def close(self) -> None:
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            on_close()


def stats() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "creations": dict(creations),
        "closes": closes,
        "statements": application.registry.statements,
        "checks": application.refresher.checks,
        "revision": application.refresher.revision,
        "installed_at": application.refresher.installed_at,
        "listening": application.refresher.listening,
        "installs": list(installs),
        "full_reads": application.refresher.full_reads,
    }


application = TenantDispatcher(
    Registry(os.environ["APPMUX_REGISTRY_URL"], listen=os.environ.get("REGISTRY_LISTEN") != "0"),
    ReportingApp,
    base_domains=["example.com"],
    refresh_interval=float(os.environ.get("REGISTRY_REFRESH_INTERVAL", "0.5")),
    load=os.environ.get("REGISTRY_LOAD", "all"),
)

#: (revision, time.time()) of this process's last installs, for propagation figures.
installs: deque[tuple[int, float]] = deque(maxlen=1000)
_install = application.refresher._install


def _recording_install(view: Any) -> None:
    _install(view)
    installs.append((view.revision, time.time()))


application.refresher._install = _recording_install
