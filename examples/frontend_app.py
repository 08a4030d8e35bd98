"""The demo's Flask frontend, mounted at ``/``."""

from __future__ import annotations

from flask import Flask, url_for

application = Flask(__name__)


@application.route("/")
def index() -> str:
    return (
        "<!doctype html><title>appmux demo</title>"
        "<h1>appmux demo: frontend</h1>"
        "<ul>"
        f'<li><a id="self" href="{url_for("index")}">this page</a></li>'
        '<li><a id="backend" href="/backend/">the Flask API at /backend</a></li>'
        '<li><a id="legacy" href="/legacy/">the Django project at /legacy</a></li>'
        "</ul>"
        "<p>Tenants live at <code>http://&lt;name&gt;.localhost:PORT/</code>:"
        " try acme or globex.</p>"
    )
