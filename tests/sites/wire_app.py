"""The wire corpus's site: tenants acme and globex by subdomain of example.com.

Every body names the tenant and the ``Host`` appmux saw, so a test can tell
which tenant answered and why. Unknown subdomains get ``NotFound()``, as on
Flask's page; path tenants under ``/t/`` are ``docs`` and ``blog``.
"""

from __future__ import annotations

from typing import Any

from werkzeug.exceptions import NotFound

TENANTS = ("acme", "globex")


def _app(kind: str, key: str) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        line = f"{kind}={key} host={environ.get('HTTP_HOST', '')} path={environ['PATH_INFO']}"
        body = line.encode("latin-1", "replace")
        headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        start_response("200 OK", headers)
        return [body]

    return app


def make_app(subdomain: str) -> Any:
    return _app("tenant", subdomain) if subdomain in TENANTS else NotFound()


def make_path_app(segment: str) -> Any:
    return _app("path", segment) if segment in ("docs", "blog") else None


def no_path_tenant(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "19")])
    return [b"no such path tenant"]
