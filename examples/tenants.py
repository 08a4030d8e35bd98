"""Per-tenant Flask apps of the demo, at ``<name>.localhost``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from myapplication import create_app, get_user_for_subdomain


def make_app(subdomain: str) -> Any:
    """``create_app`` for appmux: an instance per known tenant, else ``None``."""
    user = get_user_for_subdomain(subdomain)
    return None if user is None else create_app(user)


NOT_FOUND_PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>No such tenant</title></head>
<body><h1 id="not-found">No such tenant</h1>
<p>There is no site at this address. Known tenants: acme, globex.</p></body></html>
"""


def not_found(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """A friendly 404 page for hosts that belong to no tenant."""
    start_response(
        "404 Not Found",
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(NOT_FOUND_PAGE))),
        ],
    )
    return [NOT_FOUND_PAGE]
