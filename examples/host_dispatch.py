"""Static routing by host name, nesting a prefix dispatcher and per-tenant apps.

Run: python examples/host_dispatch.py, then open http://api.localhost:5000/
or http://acme.localhost:5000/ or http://localhost:5000/.
"""

from __future__ import annotations

from backend_app import application as backend
from frontend_app import application as frontend
from myapplication import create_app, get_user_for_subdomain

from appmux import HostDispatcher, LazyDispatcher, SubdomainKey


def make_tenant(subdomain: str):  # type: ignore[no-untyped-def]
    user = get_user_for_subdomain(subdomain)
    return None if user is None else create_app(user)


# Subdomains of localhost become tenants (unknown ones get a 404); localhost
# itself and api.localhost are fixed apps. Exact names beat the wildcard.
application = HostDispatcher(
    {
        "localhost": frontend,
        "api.localhost": backend,
        "*.localhost": LazyDispatcher(SubdomainKey("localhost"), make_tenant, max_instances=100),
    }
)

if __name__ == "__main__":
    from werkzeug.serving import run_simple

    run_simple("localhost", 5000, application, use_reloader=True)
