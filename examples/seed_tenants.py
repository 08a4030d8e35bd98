"""Create the demo's tenant registry and its two tenants, if they are missing.

``python examples/seed_tenants.py [URL]``; the URL defaults to
``APPMUX_REGISTRY_URL``, else ``examples/tenants.db``. Safe to run again.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from appmux import Registry

DEMO_TENANTS = {
    "acme": {"name": "Acme Corp", "theme": "light"},
    "globex": {"name": "Globex Corporation", "theme": "dark"},
    # A tenant whose app is FastAPI: its record's "app" chooses (tenants.create_app).
    "umbrella": {"name": "Umbrella Inc", "app": "fastapi"},
}


def seed(url: str) -> Registry:
    """Create the schema and add the demo tenants that are not there yet."""
    registry = Registry(url)
    registry.init()
    for key, config in DEMO_TENANTS.items():
        if registry.get_tenant(key) is None:
            registry.add_tenant(key, config)
    return registry


if __name__ == "__main__":
    default = f"sqlite:///{Path(__file__).resolve().parent / 'tenants.db'}"
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("APPMUX_REGISTRY_URL", default)
    seed(url).close()
    print(f"demo registry ready: {url}")
