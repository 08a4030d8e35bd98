"""A test app whose responses take as long as ``?s=`` says: for graceful shutdown."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs


def application(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    seconds = float(parse_qs(environ.get("QUERY_STRING", "")).get("s", ["0"])[0])
    time.sleep(min(seconds, 10.0))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"slept {seconds}".encode()]
