"""The baseline the benchmarks measure: Flask's snippets, and the holes appmux closes."""

from __future__ import annotations

from typing import Any

import pytest
from wsgi_helpers import RecordingFactory, call, echo_app, make_environ

from appmux import PathDispatcher, SubdomainDispatcher
from benchmarks import snippets


def test_ported_path_helpers_keep_werkzeug_2_2_semantics() -> None:
    environ: dict[str, Any] = {"PATH_INFO": "/foo/bar", "SCRIPT_NAME": "/app"}
    assert snippets.peek_path_info(environ) == "foo"
    assert snippets.pop_path_info(environ) == "foo"
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("/app/foo", "/bar")
    assert snippets.pop_path_info(environ) == "bar"
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("/app/foo/bar", "")
    assert snippets.pop_path_info(environ) is None


def test_documented_subdomain_dispatcher_lets_evilexample_in_and_appmux_does_not() -> None:
    documented = RecordingFactory()
    snippets.SubdomainDispatcher("example.com", documented)(
        make_environ(host="evilexample.com"), lambda *a: None
    )
    assert documented.calls == ["evil"]  # the hole
    ours = RecordingFactory()
    assert call(SubdomainDispatcher("example.com", ours), host="evilexample.com").status == 400
    assert ours.calls == []


def test_documented_subdomain_dispatcher_fails_without_host_and_appmux_does_not() -> None:
    with pytest.raises(KeyError):
        snippets.SubdomainDispatcher("example.com", RecordingFactory())(
            make_environ(host=None), lambda *a: None
        )
    app = SubdomainDispatcher("example.com", RecordingFactory())
    assert call(app, host=None, SERVER_NAME="x.example.com").text == "tenant:x||/"


def test_documented_path_dispatcher_hands_dot_dot_to_the_factory_and_appmux_does_not() -> None:
    documented = RecordingFactory(unknown={".."})
    snippets.PathDispatcher(echo_app("d"), documented)(make_environ("/../x"), lambda *a: None)
    assert documented.calls == [".."]
    ours = RecordingFactory()
    assert call(PathDispatcher(echo_app("d"), ours), "/../x").text == "d||/../x"
    assert ours.calls == []
