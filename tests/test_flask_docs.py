"""The three examples of Flask's "Application Dispatching" page, on real Flask apps.

``examples/prefix_dispatch.py``, ``subdomain_dispatch.py`` and
``path_dispatch.py`` are the page's code with only the import changed.
"""

from __future__ import annotations

import json

from wsgi_helpers import call


def test_combining_applications_prefixes_url_for() -> None:
    from prefix_dispatch import application

    api = call(application, "/backend/", host="localhost")
    assert api.status == 200
    assert json.loads(api.body) == {
        "app": "backend",
        "script_root": "/backend",
        "users_url": "/backend/users",
    }
    users = json.loads(call(application, "/backend/users", host="localhost:5000").body)
    assert users["url"] == "http://localhost:5000/backend/users"
    assert 'href="/"' in call(application, "/", host="localhost").text
    assert call(application, "/backendx", host="localhost").status == 404  # frontend's 404


def test_dispatch_by_subdomain_creates_one_instance_per_tenant() -> None:
    from subdomain_dispatch import application

    page = call(application, "/", host="acme.localhost:5000")
    assert page.status == 200 and "Acme Corp" in page.text
    about = call(application, "/about", host="acme.localhost:5000")
    assert about.text == "about acme: http://acme.localhost:5000/"
    assert call(application, "/", host="globex.localhost").status == 200
    assert call(application, "/", host="nobody.localhost").status == 404  # NotFound()
    assert call(application, "/", host="evil-localhost").status == 400
    assert {"acme", "globex"} <= set(application.keys())
    first = application.instances["acme"]
    call(application, "/", host="ACME.localhost")
    assert application.instances["acme"] is first


def test_dispatch_by_path_prefixes_url_for_and_falls_back() -> None:
    from path_dispatch import application

    page = call(application, "/acme/", host="localhost")
    assert page.status == 200 and 'href="/acme/about"' in page.text
    about = call(application, "/acme/about", host="localhost")
    assert about.text == "about acme: http://localhost/acme/"
    assert call(application, "/", host="localhost").text == "default app"
    assert call(application, "/nobody/", host="localhost").status == 404  # default app's 404


def test_host_dispatch_example_routes_fixed_and_tenant_hosts() -> None:
    from host_dispatch import application

    assert "appmux demo" in call(application, "/", host="localhost").text
    assert json.loads(call(application, "/", host="api.localhost").body)["app"] == "backend"
    assert "Globex" in call(application, "/", host="globex.localhost").text
    assert call(application, "/", host="nobody.localhost").status == 404
    assert call(application, "/", host="x.y.localhost").status == 404
