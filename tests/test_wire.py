"""Hostile requests as raw bytes on a socket, to gunicorn and waitress, and to uvicorn
(the ASGI front: the same site through :mod:`appmux.asgi`).

The site (``sites/wire.toml``) is a ``SubdomainDispatcher`` for ``example.com``
(tenants acme and globex) with path tenants under ``/t/``; ``wire_proxy.toml``
is the same behind ``[proxy] x_host = 1``. Every request gets a 4xx, or the
tenant its host names: never a 5xx, never another tenant, never a traceback.

Some requests never reach appmux: the server answers them itself. Which ones,
on the versions tested (gunicorn 27, waitress 3.0, uvicorn 0.54), is asserted in
``REFUSED_BY_SERVER`` so that a change in a server shows up here.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
from servers import Server, serve

SITES = Path(__file__).resolve().parent / "sites"
MODES = {
    "gunicorn": ["--server", "gunicorn", "--workers", "1", "--threads", "2"],
    "waitress": ["--server", "waitress"],
    # The ASGI front: the same site, its WSGI apps bridged.
    "uvicorn": ["--server", "uvicorn"],
}


@dataclass(frozen=True)
class Case:
    """One raw request; ``tenants`` lists who may answer 200 (none: a 4xx is due)."""

    name: str
    head: bytes
    tenants: tuple[str, ...] = ()
    proxied_tenants: tuple[str, ...] | None = None  # when [proxy] x_host = 1, if different


def get(target: str, *headers: str, version: str = "1.1") -> bytes:
    lines = [f"GET {target} HTTP/{version}", *headers, "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


ACME = "Host: acme.example.com"
CORPUS = [
    Case("plain tenant", get("/", ACME), ("tenant=acme",)),
    Case("two Host headers", get("/", ACME, "Host: globex.example.com")),
    Case("Host with spaces", get("/", "Host: acme .example.com")),
    Case("Host with a space inside", get("/", "Host: ac me.example.com")),
    Case(
        "Host with NUL",
        b"GET / HTTP/1.1\r\nHost: acme\x00.example.com\r\nConnection: close\r\n\r\n",
    ),
    Case(
        "Host with non-ASCII",
        b"GET / HTTP/1.1\r\nHost: acm\xe9.example.com\r\nConnection: close\r\n\r\n",
    ),
    Case(
        "Host with UTF-8",
        "GET / HTTP/1.1\r\nHost: \u0430cme.example.com\r\nConnection: close\r\n\r\n".encode(),
    ),
    Case("Host of 300+ characters", get("/", "Host: " + "a" * 300 + ".example.com")),
    Case("Host of 300 labels", get("/", "Host: " + "a." * 150 + "example.com")),
    Case("Host with only a port", get("/", "Host: :8000")),
    Case("empty Host", get("/", "Host: ")),
    Case("HTTP/1.0 without Host", get("/", version="1.0")),
    Case("Host with user info", get("/", "Host: globex.example.com@acme.example.com")),
    Case("Host with a bad port", get("/", "Host: acme.example.com:99999")),
    Case("Host in upper case with a port", get("/", "Host: ACME.Example.COM:80"), ("tenant=acme",)),
    Case("evil suffix", get("/", "Host: acme.evilexample.com")),
    Case("foreign domain ending in ours", get("/", "Host: acme.example.com.attacker.net")),
    Case(
        "absolute-form target for another tenant",
        get("http://globex.example.com/", ACME),
        ("tenant=acme", "tenant=globex"),  # RFC 9112: the target's authority wins
    ),
    Case(
        "X-Forwarded-Host hostile",
        get("/", ACME, "X-Forwarded-Host: evil..example.com"),
        ("tenant=acme",),
        proxied_tenants=(),
    ),
    Case(
        "X-Forwarded-Host foreign",
        get("/", ACME, "X-Forwarded-Host: attacker.net"),
        ("tenant=acme",),
        proxied_tenants=(),
    ),
    Case(
        "X-Forwarded-Host another tenant",
        get("/", ACME, "X-Forwarded-Host: globex.example.com"),
        ("tenant=acme",),
        proxied_tenants=("tenant=globex",),
    ),
    Case(
        "X-Forwarded-Host list, last hop hostile",
        get("/", ACME, "X-Forwarded-Host: globex.example.com, -bad.example.com"),
        ("tenant=acme",),
        proxied_tenants=(),
    ),
    # PATH_INFO is decoded (PEP 3333): "docs/../blog" names tenant docs, never blog.
    Case("%2F in the tenant segment", get("/t/docs%2F..%2Fblog/x", ACME), ("path=docs",)),
    Case("%2e%2e as the tenant segment", get("/t/%2e%2e/x", ACME)),
    Case("'..' as the tenant segment", get("/t/../x", ACME)),
    Case("%2F as the whole tenant segment", get("/t/%2F/x", ACME)),
    Case("path tenant", get("/t/docs/x", ACME), ("path=docs",)),
    Case("10,000-byte path", get("/t/docs/" + "a" * 10_000, ACME), ("path=docs",)),
    Case("unknown tenant", get("/", "Host: nobody.example.com")),
]

# Requests the server answers itself, before appmux sees them (status from the server).
REFUSED_BY_SERVER: dict[str, set[str]] = {
    "gunicorn": {
        "two Host headers",  # 400: duplicate Host
        "Host with NUL",  # 400: invalid header value
        "10,000-byte path",  # 414: over limit_request_line
    },
    "waitress": {
        "Host with NUL",  # 400
    },
    "uvicorn": {
        "two Host headers",  # 400: h11 refuses a duplicate Host
        "Host with NUL",  # 400: invalid header value
    },
}


def send(server: Server, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def from_appmux(body: str) -> bool:
    """werkzeug's error pages and the tenant apps' bodies are appmux's answers."""
    return body.startswith(("<!doctype html>", "tenant=", "path=", "no such path tenant"))


@pytest.mark.parametrize("proxied", [False, True], ids=["direct", "x_host"])
@pytest.mark.parametrize("mode", list(MODES))
def test_hostile_requests_on_the_wire(mode: str, proxied: bool, tmp_path: Path) -> None:
    config = SITES / ("wire_proxy.toml" if proxied else "wire.toml")
    refused: set[str] = set()
    problems: list[str] = []
    with serve(config, *MODES[mode], tmp_path=tmp_path) as server:
        for case in CORPUS:
            reply = send(server, case.head)
            head, _, body_bytes = reply.partition(b"\r\n\r\n")
            match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
            if match is None:
                problems.append(f"{case.name}: no HTTP answer: {reply[:80]!r}")
                continue
            status, body = int(match[1]), body_bytes.decode("latin-1")
            allowed = case.tenants
            if proxied and case.proxied_tenants is not None:
                allowed = case.proxied_tenants
            if not from_appmux(body):
                refused.add(case.name)
            if "Traceback" in body:
                problems.append(f"{case.name}: traceback in the body")
            if status >= 500:
                problems.append(f"{case.name}: {status}")
            elif allowed and status == 200:
                if not body.startswith(allowed):
                    problems.append(f"{case.name}: answered by {body[:40]!r}")
            elif allowed:
                if case.name not in REFUSED_BY_SERVER[mode]:
                    problems.append(f"{case.name}: {status}, expected one of {allowed}")
            elif not 400 <= status < 500 or "tenant=" in body or "path=" in body:
                problems.append(f"{case.name}: {status} {body[:40]!r}, expected a 4xx")
        assert server.process.poll() is None, "the server died"
    print(f"{mode} {'x_host' if proxied else 'direct'}: refused by the server: {sorted(refused)}")
    assert problems == [], "\n".join(problems)
    assert refused == REFUSED_BY_SERVER[mode], "which requests the server refuses changed"
