"""Hostile and odd hosts and paths, with the answer each must get.

Checked without ``assert`` (see :func:`mismatches`) so the same table proves the
behaviour under ``python -O``, where assert statements vanish.
"""

from __future__ import annotations

from typing import Any

from wsgi_helpers import RecordingFactory, call, call_environ, echo_app, make_environ

from appmux import PathDispatcher, SubdomainDispatcher

MISSING = object()

# (Host header or None for no header, extra environ, status, key given to create_app)
HOST_CASES: list[tuple[str | None, dict[str, Any], int, str | None]] = [
    ("foo.example.com", {}, 200, "foo"),
    ("FOO.Example.COM", {}, 200, "foo"),
    ("foo.example.com:8000", {}, 200, "foo"),
    ("foo.example.com.", {}, 200, "foo"),
    ("foo.example.com.:8000", {}, 200, "foo"),
    ("a.b.example.com", {}, 200, "a.b"),
    ("example.com", {}, 200, ""),
    ("example.com:80", {}, 200, ""),
    ("x-1.example.com", {}, 200, "x-1"),
    (None, {}, 200, "fallback"),  # no Host: SERVER_NAME, as PEP 3333 says
    ("", {}, 200, "fallback"),
    (None, {"SERVER_NAME": ""}, 400, None),
    ("evilexample.com", {}, 400, None),
    ("attacker.net", {}, 400, None),
    ("example.com.attacker.net", {}, 400, None),
    ("foo.example.com..", {}, 400, None),
    ("foo..example.com", {}, 400, None),
    (".example.com", {}, 400, None),
    ("..example.com", {}, 400, None),
    ("[::1]:8000", {}, 400, None),
    ("[::1]", {}, 400, None),
    ("[::1", {}, 400, None),
    ("[zz::1]:80", {}, 400, None),
    ("foo.example.com:abc", {}, 400, None),
    ("foo.example.com:", {}, 400, None),
    ("foo.example.com:99999", {}, 400, None),
    ("foo.example.com:80:80", {}, 400, None),
    (":80", {}, 400, None),
    ("foo bar.example.com", {}, 400, None),
    (" foo.example.com", {}, 400, None),
    ("foo/bar.example.com", {}, 400, None),
    ("../foo.example.com", {}, 400, None),
    ("foo_bar.example.com", {}, 400, None),
    ("user@foo.example.com", {}, 400, None),
    ("-foo.example.com", {}, 400, None),
    ("foo-.example.com", {}, 400, None),
    ("x" * 64 + ".example.com", {}, 400, None),
    (".".join(["a" * 60] * 4) + ".example.com", {}, 400, None),  # > 253 chars
    ("f\xf6\xf6.example.com", {}, 400, None),
    ("foo.example.com\r\nX-Injected: 1", {}, 400, None),
    ("foo.example.com\x00", {}, 400, None),
]

# (PATH_INFO or MISSING, status, body, key given to create_app)
PATH_CASES: list[tuple[Any, int, str, str | None]] = [
    ("/foo/bar", 200, "tenant:foo|/mount/foo|/bar", "foo"),
    ("/foo", 200, "tenant:foo|/mount/foo|", "foo"),
    ("/foo/", 200, "tenant:foo|/mount/foo|/", "foo"),
    ("/Foo/x", 200, "tenant:Foo|/mount/Foo|/x", "Foo"),
    ("/unknown/x", 200, "default|/mount|/unknown/x", "unknown"),
    ("", 200, "default|/mount|", None),
    ("/", 200, "default|/mount|/", None),
    (MISSING, 200, "default|/mount|", None),
    ("//x", 200, "default|/mount|//x", None),
    ("/./x", 200, "default|/mount|/./x", None),
    ("/../x", 200, "default|/mount|/../x", None),
    ("/..", 200, "default|/mount|/..", None),
    ("/a..b/x", 200, "default|/mount|/a..b/x", None),
    ("/a b/x", 200, "default|/mount|/a b/x", None),
    ("/a\tb", 200, "default|/mount|/a\tb", None),
    ("/a:b/x", 200, "default|/mount|/a:b/x", None),
    ("/a\\b/x", 200, "default|/mount|/a\\b/x", None),
    ("/" + "x" * 300, 200, "default|/mount|/" + "x" * 300, None),
]


def host_mismatches() -> list[str]:
    problems = []
    for host, extra, status, key in HOST_CASES:
        factory = RecordingFactory()
        app = SubdomainDispatcher("example.com", factory)
        result = call(app, "/x", host=host, **extra)
        expected_calls = [] if key is None else [key]
        if result.status != status or factory.calls != expected_calls:
            problems.append(
                f"host {host!r}: got {result.status} calls={factory.calls}, "
                f"want {status} calls={expected_calls}"
            )
        if status == 200 and result.text != f"tenant:{key}||/x":
            problems.append(f"host {host!r}: body {result.text!r}")
        if result.status >= 500 or "Traceback" in result.text:
            problems.append(f"host {host!r}: server error {result.text[:80]!r}")
    return problems


def path_mismatches() -> list[str]:
    problems = []
    for path, status, body, key in PATH_CASES:
        factory = RecordingFactory(unknown={"unknown"})
        app = PathDispatcher(echo_app("default"), factory)
        environ = make_environ(script_name="/mount")
        if path is MISSING:
            del environ["PATH_INFO"]
        else:
            environ["PATH_INFO"] = path
        # wsgiref's validator itself fails on an environ without PATH_INFO.
        result = call_environ(app, environ, validate=path is not MISSING)
        expected_calls = [] if key is None else [key]
        if (result.status, result.text, factory.calls) != (status, body, expected_calls):
            problems.append(
                f"path {path!r}: got {result.status} {result.text!r} calls={factory.calls}, "
                f"want {status} {body!r} calls={expected_calls}"
            )
    return problems


def mismatches() -> list[str]:
    """Every case that did not get its expected answer."""
    return host_mismatches() + path_mismatches()


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps({"optimize": sys.flags.optimize, "problems": mismatches()}))
