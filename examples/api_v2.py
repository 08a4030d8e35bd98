"""The demo's FastAPI service, mounted at ``/api/v2``, with a websocket echo at ``/api/v2/ws``.

Its lifespan runs in each serving process (appmux drives it, on any server);
what it yields is this app's own ``request.state``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    yield {"greeting": "hello from FastAPI"}


app = FastAPI(title="appmux demo API v2", lifespan=lifespan)


@app.get("/")
async def index(request: Request) -> dict[str, Any]:
    """Where this app sits: ``root_path`` grew by the mount, ``path`` stayed whole."""
    return {
        "app": "fastapi",
        "greeting": request.state.greeting,
        "root_path": request.scope["root_path"],
        "path": request.scope["path"],
        "items": str(request.url_for("item", item_id=1)),
    }


@app.get("/items/{item_id}")
async def item(item_id: int) -> dict[str, int]:
    return {"item_id": item_id}


@app.websocket("/ws")
async def echo(websocket: WebSocket) -> None:
    """Echo every text message back, prefixed."""
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(f"echo: {await websocket.receive_text()}")
    except WebSocketDisconnect:
        pass
