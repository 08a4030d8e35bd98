"""The observed site's apps: a root, an API mount, and tenants (``boom`` fails to start)."""

from __future__ import annotations

import time
from typing import Any


def _app(name: str) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/slow":  # lands in the 0.5 s duration bucket
            time.sleep(0.3)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [name.encode()]

    return app


root = _app("root")
api = _app("api")


def make_tenant(key: str) -> Any:
    if key == "boom":
        raise RuntimeError("cannot reach postgresql://app:hunter2@db/tenants\nsecond line")
    if key.startswith("nobody"):
        return None
    return _app(f"tenant {key}")
