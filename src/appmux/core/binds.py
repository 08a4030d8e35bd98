"""Listen addresses: ``HOST:PORT`` parsed and checked once. Pure logic."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = ["Bind", "parse_bind"]


@dataclass(frozen=True)
class Bind:
    """A ``HOST:PORT`` to listen on."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        """Whether only this machine can connect."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse_bind(text: str) -> Bind:
    """Parse ``HOST:PORT``, ``[IPv6]:PORT`` or ``:PORT``; raises ValueError."""
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:8000)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{text!r}: write IPv6 addresses in brackets, e.g. [::1]:8000")
    return Bind(host or "0.0.0.0", int(port))
