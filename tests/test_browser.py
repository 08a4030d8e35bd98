"""The demo's pages in a real headless Chromium (Debian's ``chromium``).

Chromium resolves ``*.localhost`` to loopback by itself, so tenant hosts work
exactly as a user would type them.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from chromium import CHROMIUM, flags, webdriver_for
from servers import DEMO_ADMIN, registry_revisions, serve
from test_observe import wait_for

from appmux import Registry

DEMO = Path(__file__).resolve().parent.parent / "examples" / "appmux.toml"

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None and not os.environ.get("CI"),
        reason="Debian's chromium is not installed (.ci/run installs it)",
    ),
    # The demo serves its tenants from a registry: a seeded one in a temp dir.
    pytest.mark.usefixtures("demo_registry"),
]


def chromium(tmp_path: Path, *args: str) -> str:
    assert CHROMIUM is not None, "chromium is required in CI"
    out = subprocess.run(
        [
            CHROMIUM,
            *flags(tmp_path / "profile"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    return out.stdout


def test_demo_pages_render_in_chromium(tmp_path: Path, demo_registry: str) -> None:
    with serve(DEMO, "--server", "gunicorn", tmp_path=tmp_path) as server:
        home = chromium(tmp_path, "--dump-dom", f"http://localhost:{server.port}/")
        assert '<a id="backend" href="/backend/">' in home
        tenant = chromium(tmp_path, "--dump-dom", f"http://acme.localhost:{server.port}/")
        assert '<h1 id="tenant">Acme Corp</h1>' in tenant
        assert 'href="/about"' in tenant
        legacy = chromium(tmp_path, "--dump-dom", f"http://localhost:{server.port}/legacy/")
        assert 'href="/legacy/reports/2024/"' in legacy
        unknown = chromium(tmp_path, "--dump-dom", f"http://nobody.localhost:{server.port}/")
        assert '<h1 id="not-found">No such tenant</h1>' in unknown
        globex = chromium(tmp_path, "--dump-dom", f"http://globex.localhost:{server.port}/")
        assert '<h1 id="tenant">Globex Corporation</h1>' in globex  # its own record, in the DOM
        shot = tmp_path / "tenant.png"  # and a picture of it, for a person to look at
        chromium(
            tmp_path,
            f"--screenshot={shot}",
            "--window-size=800,400",
            f"http://globex.localhost:{server.port}/",
        )
        assert shot.stat().st_size > 1000

        # A custom domain added while the site runs, opened by its own name.
        writer = Registry(demo_registry)
        writer.add_domain("shop.acme.test", "acme", primary=True)
        revision = writer.revision()
        writer.close()

        # Every worker, not whichever answers a request: Chromium may reach the other one.
        assert wait_for(lambda: registry_revisions(DEMO_ADMIN) == [revision] * 2)
        assert server.get("/", host="shop.acme.test").status_code == 200
        custom = chromium(
            tmp_path,
            "--host-resolver-rules=MAP shop.acme.test 127.0.0.1",
            "--dump-dom",
            f"http://shop.acme.test:{server.port}/",
        )
        assert '<h1 id="tenant">Acme Corp</h1>' in custom
        assert "custom domains: shop.acme.test" in custom
        assert server.stop() == 0


def test_the_demo_on_uvicorn_opens_the_fastapi_websocket_in_chromium(
    tmp_path: Path, demo_registry: str
) -> None:
    with serve(DEMO, tmp_path=tmp_path) as server:  # an ASGI app in the site: uvicorn
        assert "with uvicorn" in server.output()
        # The page opens the websocket itself: wait for its echo in a driven browser
        # (a DOM dump's virtual time does not wait for real network I/O).
        assert frontend_echo(tmp_path, f"http://localhost:{server.port}/") == (
            "echo: hello from the frontend"
        )
        # The WSGI apps beside it, through the bridge (and the metrics' route labels).
        assert "backend" in server.get("/backend/", host="localhost").text.lower()
        legacy = server.get("/legacy/", host="localhost")
        assert legacy.status_code == 200 and 'href="/legacy/reports/2024/"' in legacy.text
        api = server.get("/api/v2/", host="localhost").json()
        assert api["root_path"] == "/api/v2" and api["greeting"] == "hello from FastAPI"
        assert api["items"].endswith("/api/v2/items/1")
        umbrella = chromium(tmp_path, "--dump-dom", f"http://umbrella.localhost:{server.port}/")
        assert '<h1 id="tenant">Umbrella Inc</h1>' in umbrella
        assert "served by FastAPI for tenant umbrella" in umbrella
        acme = chromium(tmp_path, "--dump-dom", f"http://acme.localhost:{server.port}/")
        assert '<h1 id="tenant">Acme Corp</h1>' in acme
        assert server.stop() == 0


def frontend_echo(tmp_path: Path, url: str, timeout: float = 20) -> str:
    """The text of the demo page's ``#ws`` once the websocket answered (or the last seen)."""
    from selenium.webdriver.common.by import By

    driver = webdriver_for(tmp_path / "driver-profile")
    try:
        driver.get(url)
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = driver.find_element(By.ID, "ws").text
            if text.startswith(("echo:", "no websocket")):
                return text
            time.sleep(0.1)
        return text
    finally:
        driver.quit()
