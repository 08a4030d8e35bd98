"""A registry site for the real-server tests: every tenant app reports on its process.

``APPMUX_REGISTRY_URL`` names the registry. Tenants answer
``tenant=KEY theme=T pid=P instance=N``; ``/slow?s=1`` takes that long;
``/_stats`` answers this process's figures as JSON: ``create_app`` calls per
key, closes (with the requests inside the instance at that moment), the
registry's statement count and the refresher's checks.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections import Counter
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

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with self._lock:
            self.active += 1
        try:
            path = environ["PATH_INFO"]
            if path == "/_stats":
                body = json.dumps(stats()).encode()
            else:
                if path == "/slow":
                    seconds = float(parse_qs(environ["QUERY_STRING"]).get("s", ["1"])[0])
                    time.sleep(min(seconds, 10))
                seen: TenantRecord = environ["appmux.tenant"]
                theme = self.record.config.get("theme", "-")
                body = (
                    f"tenant={seen.key} theme={theme} pid={os.getpid()} instance={self.instance}"
                ).encode()
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [body]
        finally:
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


def stats() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "creations": dict(creations),
        "closes": closes,
        "statements": application.registry.statements,
        "checks": application.refresher.checks,
        "revision": application.refresher.revision,
        "installed_at": application.refresher.installed_at,
    }


application = TenantDispatcher(
    Registry(os.environ["APPMUX_REGISTRY_URL"], listen=os.environ.get("REGISTRY_LISTEN") != "0"),
    ReportingApp,
    base_domains=["example.com"],
    refresh_interval=float(os.environ.get("REGISTRY_REFRESH_INTERVAL", "0.5")),
)
