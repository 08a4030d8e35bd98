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
        '<li><a id="api-v2" href="/api/v2/">the FastAPI service at /api/v2</a></li>'
        "</ul>"
        "<p>Tenants live at <code>http://&lt;name&gt;.localhost:PORT/</code>:"
        " try acme or globex (Flask), or umbrella (FastAPI).</p>"
        '<p>The websocket echo at <code>/api/v2/ws</code>: <span id="ws">connecting...</span></p>'
        + ECHO_SCRIPT
    )


# Opens the FastAPI app's websocket and shows its echo (or why there is none: a
# WSGI server answers 501, as appmux does when the site is not on an ASGI server).
ECHO_SCRIPT = """<script>
const out = document.getElementById("ws");
const scheme = location.protocol === "https:" ? "wss" : "ws";
const socket = new WebSocket(`${scheme}://${location.host}/api/v2/ws`);
socket.onopen = () => socket.send("hello from the frontend");
socket.onmessage = (event) => { out.textContent = event.data; socket.close(); };
socket.onerror = () => { out.textContent = "no websocket: serve the site on uvicorn"; };
</script>"""
