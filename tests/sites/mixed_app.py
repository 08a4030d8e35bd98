"""A mixed site's apps: Flask (WSGI) and FastAPI (ASGI, with a lifespan and a websocket
echo), tenants of both kinds, and an ASGI app whose startup fails (``APPMUX_TEST_FAIL``).

Every lifespan event is appended to ``$MIXED_JOURNAL`` (one line, with the pid).
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from flask import Flask, request, url_for


def journal(event: str) -> None:
    path = os.environ.get("MIXED_JOURNAL")
    if path:
        with open(path, "a") as out:
            out.write(f"{os.getpid()} {event}\n")


def make_flask(name: str) -> Flask:
    app = Flask(name)

    @app.route("/where")
    def where() -> Any:
        return {
            "app": name,
            "script_name": request.environ["SCRIPT_NAME"],
            "path_info": request.environ["PATH_INFO"],
            "url_for": url_for("where"),
        }

    @app.route("/upload", methods=["POST"])
    def upload() -> Any:
        return {"app": name, "body": len(request.get_data())}

    return app


def make_fastapi(name: str, fail: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        journal(f"start {name}")
        if fail:
            raise RuntimeError(f"{name} cannot reach its database")
        yield {"name": name}
        journal(f"stop {name}")

    app = FastAPI(lifespan=lifespan)

    @app.get("/where")
    async def where(req: Request) -> dict[str, Any]:
        return {
            "app": req.state.name,
            "root_path": req.scope["root_path"],
            "path": req.scope["path"],
            "url_for": str(req.url_for("where").path),
        }

    @app.post("/upload")
    async def upload(req: Request) -> dict[str, Any]:
        return {"app": name, "body": len(await req.body())}

    @app.websocket("/ws")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        async for text in ws.iter_text():
            await ws.send_text(f"{name}:{text}")

    return app


flask_app = make_flask("flask")
api = make_fastapi("api", fail=bool(os.environ.get("APPMUX_TEST_FAIL")))


def tenant(key: str) -> Any:
    """``fast-*`` tenants are FastAPI apps, ``broken`` fails its startup, the rest Flask."""
    if key == "nobody":
        return None
    if key == "broken":
        return make_fastapi(key, fail=True)
    return make_fastapi(key) if key.startswith("fast") else make_flask(key)
