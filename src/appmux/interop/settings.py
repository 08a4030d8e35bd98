"""The process-wide settings of the protocol bridges (``[asgi]`` in ``appmux.toml``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BridgeSettings", "settings"]


@dataclass
class BridgeSettings:
    """``threads``: the one pool every WSGI app under an ASGI server runs in;
    ``lifespan_timeout``: seconds a lifespan startup or shutdown may take;
    ``drain_timeout``: seconds a retired instance's requests and websockets get
    before its shutdown runs anyway."""

    threads: int = 32
    lifespan_timeout: float = 10.0
    drain_timeout: float = 30.0


#: This process's settings; ``appmux serve`` sets them from ``[asgi]`` before serving.
settings = BridgeSettings()
