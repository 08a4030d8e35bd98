"""Per-tenant Flask apps of the demo, at ``<key>.localhost`` and custom domains.

``create_app(record)`` builds a tenant's app from its registry record (the
demo's ``[tenants] by = "registry"``); ``make_app(name)`` is the same for a
plain ``SubdomainDispatcher``, as on Flask's "Application Dispatching" page.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from flask import Flask, request, url_for
from markupsafe import escape
from myapplication import create_app as create_user_app
from myapplication import get_user_for_subdomain

from appmux import TenantRecord


def make_app(subdomain: str) -> Any:
    """``create_app`` for a ``SubdomainDispatcher``: an instance per known tenant, else ``None``."""
    user = get_user_for_subdomain(subdomain)
    return None if user is None else create_user_app(user)


def create_app(record: TenantRecord) -> Any:
    """One instance for a registry tenant, configured from its record: a FastAPI app
    when its config says ``app = "fastapi"``, else a Flask app."""
    if record.config.get("app") == "fastapi":
        return create_fastapi_app(record)
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


def create_fastapi_app(record: TenantRecord) -> Any:
    """A tenant's FastAPI app: its lifespan runs once per instance, with its own state."""
    name = str(record.config.get("name", record.key.title()))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        yield {"name": name}

    app = FastAPI(title=name, lifespan=lifespan)

    @app.get("/", response_class=HTMLResponse)
    async def index(request: Request) -> str:
        tenant: TenantRecord = request.scope["appmux.tenant"]
        return (
            '<!doctype html><html lang="en"><meta charset="utf-8">'
            f"<title>{escape(request.state.name)}</title>"
            f'<h1 id="tenant">{escape(request.state.name)}</h1>'
            f'<p id="framework">served by FastAPI for tenant {escape(tenant.key)}</p></html>'
        )

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
