"""Moving a legacy app over route by route: ``Cascade`` and ``strip_prefix = false``.

A Flask app that owns ``/reports/*`` stands in front of the demo's Django
project, which owns the rest. Every WSGI call goes through ``wsgiref.validate``.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from asgi_helpers import asgi_call
from flask import Flask, abort, request, url_for
from servers import serve
from wsgi_helpers import call

import appmux.asgi
from appmux import Cascade, DispatcherMiddleware, KeepPrefix
from appmux.serve.config import ConfigError, load_config

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_site.settings")


def reports_app(prefix: str = "") -> Flask:
    """The new Flask app: it owns ``{prefix}/reports/*``; its 404s mean "not mine"."""
    app = Flask(f"reports{prefix.replace('/', '_')}")

    @app.get(f"{prefix}/reports/<int:year>")
    def report(year: int) -> dict[str, Any]:
        return {"app": "flask", "year": year, "self": url_for("report", year=year)}

    @app.post(f"{prefix}/reports/upload")
    def upload() -> dict[str, Any]:
        return {"app": "flask", "body": len(request.get_data())}

    @app.get(f"{prefix}/reports/gone")
    def gone() -> Any:
        abort(404)  # a real 404 of the new app

    @app.get(f"{prefix}/reports/legacy")
    def legacy() -> Any:
        return "not here", 404, {"X-Cascade": "pass"}  # hand this one to the old app

    return app


class Closing:
    """Wraps an app: counts the response bodies closed."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.closed = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        body = self.app(environ, start_response)
        outer = self

        class Body:
            def __iter__(self) -> Any:
                return iter(body)

            def close(self) -> None:
                outer.closed += 1
                getattr(body, "close", lambda: None)()

        return Body()


def django() -> Any:
    from legacy_site.wsgi import application

    return application


def post(app: Any, path: str, data: bytes, **kw: Any) -> Any:
    return call(
        app,
        path,
        host="localhost",
        method="POST",
        **{"wsgi.input": io.BytesIO(data), "CONTENT_LENGTH": str(len(data))},
        **kw,
    )


def test_the_new_app_answers_its_routes_and_the_rest_falls_through() -> None:
    flask = Closing(reports_app())
    site = DispatcherMiddleware(django(), {"/app": Cascade([flask, django()])})
    mine = call(site, "/app/reports/7", host="localhost", script_name="/outer")
    assert json.loads(mine.body) == {"app": "flask", "year": 7, "self": "/outer/app/reports/7"}
    assert flask.closed == 1
    index = call(site, "/app/", host="localhost")  # Flask's 404 passes to Django
    assert index.status == 200 and 'href="/app/reports/2024/"' in index.text  # reverse()
    assert flask.closed == 2  # the passed response was closed, never sent
    assert "Not Found" not in index.text
    # A 405 passes too: Django has reports/<year>/ and takes a POST.
    moved = post(site, "/app/reports/7/", b"x")
    assert json.loads(moved.body)["app"] == "django"
    assert call(site, "/app/nowhere/", host="localhost").status == 404  # the last app's answer


def test_post_bodies_reach_the_app_that_answers() -> None:
    site = Cascade([reports_app(), django()])
    assert json.loads(post(site, "/reports/upload", b"hello").body) == {"app": "flask", "body": 5}
    echoed = json.loads(post(site, "/echo/", b"y" * 5000).body)
    assert echoed == {"app": "django", "method": "POST", "body": 5000}
    small = Cascade([reports_app(), django()], body_limit=100)  # too large: first app only
    assert post(small, "/echo/", b"z" * 500).status == 404


def test_marker_mode_passes_only_marked_404s() -> None:
    site = Cascade([reports_app(), django()], cascade_on="marker")
    assert call(site, "/reports/gone", host="localhost").status == 404  # the new app's own
    assert call(site, "/", host="localhost").status == 404  # unmarked: it stands
    handed = call(site, "/reports/legacy", host="localhost")
    assert handed.status == 404 and "x-cascade" not in {k.lower() for k in handed.headers}


def test_strip_prefix_false_gives_the_app_the_whole_path() -> None:
    whole = reports_app(prefix="/app")  # its routes already include /app
    kept = DispatcherMiddleware(django(), {"/app": KeepPrefix(whole, "/app")})
    answer = call(kept, "/app/reports/3", host="localhost", script_name="/outer")
    assert json.loads(answer.body) == {"app": "flask", "year": 3, "self": "/outer/app/reports/3"}
    stripped = DispatcherMiddleware(django(), {"/app": whole})
    assert call(stripped, "/app/reports/3", host="localhost").status == 404


def test_the_asgi_forms_agree() -> None:
    site = appmux.asgi.DispatcherMiddleware(
        django(),
        {
            "/app": appmux.asgi.Cascade([reports_app(), django()]),
            "/whole": appmux.asgi.KeepPrefix(reports_app(prefix="/whole"), "/whole"),
        },
    )
    mine = asgi_call(site, "/app/reports/7", host="localhost")
    assert json.loads(mine.body) == {"app": "flask", "year": 7, "self": "/app/reports/7"}
    index = asgi_call(site, "/app/", host="localhost")
    assert index.status == 200 and 'href="/app/reports/2024/"' in index.text
    whole = asgi_call(site, "/whole/reports/2", host="localhost")
    assert json.loads(whole.body)["self"] == "/whole/reports/2"


def test_config_cascades_and_strip_prefix(tmp_path: Path) -> None:
    (tmp_path / "reports.py").write_text(
        "from flask import Flask, request, url_for\n"
        "app = Flask('reports')\n"
        "@app.post('/reports/upload')\n"
        "def upload():\n    return {'app': 'flask', 'body': len(request.get_data())}\n"
        "whole = Flask('whole')\n"
        "@whole.get('/keep/reports/<int:n>')\n"
        "def report(n):\n    return {'self': url_for('report', n=n)}\n"
    )
    config = tmp_path / "appmux.toml"
    config.write_text(
        '[hosts."localhost".mounts]\n'
        '"/" = "legacy_site.wsgi:application"\n'
        '"/app" = ["reports:app", "legacy_site.wsgi:application"]\n'
        '[hosts."localhost".mounts."/keep"]\napp = "reports:whole"\nstrip_prefix = false\n'
    )
    examples = Path(__file__).resolve().parent.parent / "examples"
    env = {"PYTHONPATH": str(examples), "DJANGO_SETTINGS_MODULE": "legacy_site.settings"}
    with serve(config, "--server", "waitress", tmp_path=tmp_path, env=env) as server:
        upload = server.get("/app/reports/upload", host="localhost")
        assert upload.status_code == 405 or upload.status_code == 404  # GET: Django's 404
        import httpx

        posted = httpx.post(
            server.url + "/app/echo/", content=b"q" * 3000, headers={"Host": "localhost"}
        )
        assert posted.json() == {"app": "django", "method": "POST", "body": 3000}
        chunked = httpx.post(
            server.url + "/app/reports/upload",
            content=iter([b"a" * 100, b"b" * 50]),  # no Content-Length: chunked
            headers={"Host": "localhost"},
        )
        assert chunked.json() == {"app": "flask", "body": 150}
        kept = server.get("/keep/reports/9", host="localhost")
        assert kept.json() == {"self": "/keep/reports/9"}
    for bad, message in (
        ('"/x" = ["reports:app"]\n', "at least two"),
        ('[mounts."/x"]\ncascade = ["a:b", "c:d"]\ncascade_on = "maybe"\n', "cascade_on"),
        ('[mounts."/x"]\napp = "a:b"\ncascade_on = "marker"\n', "goes beside cascade"),
        ('[mounts."/x"]\napp = "a:b"\nstrip_prefix = "no"\n', "strip_prefix"),
    ):
        config.write_text('[mounts]\n"/" = "a:b"\n' + bad)
        with pytest.raises(ConfigError, match=message):
            load_config(config)


def test_the_demo_puts_the_flask_frontend_in_front_of_the_django_project(
    demo_registry: str,
) -> None:
    from appmux.serve.site import build_site

    demo = Path(__file__).resolve().parent.parent / "examples" / "appmux.toml"
    site = build_site(load_config(demo))
    assert "appmux demo" in call(site, "/", host="localhost").text  # Flask's own page
    report = call(site, "/reports/2024/", host="localhost")  # not Flask's: Django's
    assert json.loads(report.body) == {"app": "django", "year": 2024, "self": "/reports/2024/"}
