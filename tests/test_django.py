"""A real Django project mounted beside a Flask app in one process."""

from __future__ import annotations

import json
import os

from wsgi_helpers import call

from appmux import DispatcherMiddleware


def test_django_and_flask_side_by_side() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_site.settings")
    from frontend_app import application as flask_app
    from legacy_site.wsgi import application as django_app

    site = DispatcherMiddleware(flask_app, {"/legacy": django_app})
    page = call(site, "/legacy/", host="localhost")
    assert page.status == 200
    assert 'href="/legacy/reports/2024/"' in page.text  # reverse() includes the mount
    report = call(site, "/legacy/reports/7/", host="localhost", script_name="/outer")
    assert json.loads(report.body) == {
        "app": "django",
        "year": 7,
        "self": "/outer/legacy/reports/7/",
    }
    assert "appmux demo" in call(site, "/", host="localhost").text
    assert call(site, "/legacy/missing", host="localhost").status == 404
