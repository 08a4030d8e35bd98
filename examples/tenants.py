"""Per-tenant Flask apps of the demo, at ``<key>.localhost`` and custom domains.

``create_app(record)`` builds a tenant's app from its registry record (the
demo's ``[tenants] by = "registry"``); ``make_app(name)`` is the same for a
plain ``SubdomainDispatcher``, as on Flask's "Application Dispatching" page.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Flask, request, url_for
from markupsafe import escape
from myapplication import create_app as create_user_app
from myapplication import get_user_for_subdomain

from appmux import TenantRecord


def make_app(subdomain: str) -> Any:
    """``create_app`` for a ``SubdomainDispatcher``: an instance per known tenant, else ``None``."""
    user = get_user_for_subdomain(subdomain)
    return None if user is None else create_user_app(user)


def create_app(record: TenantRecord) -> Flask:
    """One Flask instance for a registry tenant, configured from its record."""
    app = Flask(f"tenant_{record.key}")
    app.config.update(record.config)
    name = str(app.config.get("name", record.key.title()))
    theme = str(app.config.get("theme", "light"))

    @app.route("/")
    def index() -> str:
        tenant: TenantRecord = request.environ["appmux.tenant"]
        domains = ", ".join(tenant.domains) or "none yet"
        return (
            f'<!doctype html><html lang="en" data-theme="{escape(theme)}">'
            f'<meta charset="utf-8"><title>{escape(name)}</title>'
            f'<h1 id="tenant">{escape(name)}</h1>'
            f'<p id="theme">theme: {escape(theme)}</p>'
            f'<p id="domains">custom domains: {escape(domains)}</p>'
            f'<a id="about" href="{url_for("about")}">about</a></html>'
        )

    @app.route("/about")
    def about() -> str:
        return f"about {record.key}: {url_for('index', _external=True)}"

    return app


NOT_FOUND_PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>No such tenant</title></head>
<body><h1 id="not-found">No such tenant</h1>
<p>There is no site at this address. Add one: <code>appmux tenants add NAME</code>.</p>
</body></html>
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
