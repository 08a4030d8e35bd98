"""Prefix matching: segment boundaries, longest match, werkzeug equivalence."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.middleware.dispatcher import DispatcherMiddleware as WerkzeugDispatcher

from appmux import DispatcherMiddleware
from appmux.core.prefixes import PrefixTable, normalize_prefix


def test_longest_prefix_on_segment_boundaries() -> None:
    table = PrefixTable({"/api": "api", "/api/v2": "v2", "/a/b/c": "abc"})
    assert table.match("/api") == (4, "api")
    assert table.match("/api/") == (4, "api")
    assert table.match("/api/v1/x") == (4, "api")
    assert table.match("/api/v2") == (7, "v2")
    assert table.match("/api/v2/users") == (7, "v2")
    assert table.match("/api/v20") == (4, "api")
    assert table.match("/apix") is None
    assert table.match("/a/b/c/d/e/f/g") == (6, "abc")
    assert table.match("/a/b") is None
    assert table.match("") is None
    assert table.match("/") is None
    assert table.depth == 3


def test_prefixes_are_validated_once() -> None:
    assert normalize_prefix("/api/") == "/api"
    with pytest.raises(ValueError, match="start with"):
        PrefixTable({"api": 1})
    with pytest.raises(ValueError, match="twice"):
        PrefixTable({"/api": 1, "/api/": 2})
    with pytest.raises(ValueError, match="empty segment"):
        PrefixTable({"/a//b": 1})
    with pytest.raises(ValueError, match="root"):
        PrefixTable({"/": 1})


def _route(app: Any, path: str, script: str) -> tuple[str, str, str]:
    seen: dict[str, str] = {}

    def leaf(name: str) -> Any:
        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            seen.update(name=name, script=environ["SCRIPT_NAME"], path=environ["PATH_INFO"])
            return []

        return app

    def build(cls: Any) -> Any:
        return cls(leaf("root"), {m: leaf(m) for m in MOUNTS})

    build(app)({"PATH_INFO": path, "SCRIPT_NAME": script}, None)
    return seen["name"], seen["script"], seen["path"]


MOUNTS = ["/a", "/a/b", "/api", "/x/y/z", "/b", "/q/a/b/x"]
segment = st.sampled_from(["a", "b", "api", "apix", "x", "y", "z", "", "q"])


@given(st.lists(segment, max_size=8), st.sampled_from(["", "/pre", "/pre/fix"]))
def test_same_routing_as_werkzeug(segments: list[str], script: str) -> None:
    path = "".join("/" + s for s in segments)
    assert _route(DispatcherMiddleware, path, script) == _route(WerkzeugDispatcher, path, script)


def _brute_force(mounts: set[str], path: str) -> tuple[int, str] | None:
    matches = [m for m in mounts if path == m or path.startswith(m + "/")]
    return (len(max(matches, key=len)), max(matches, key=len)) if matches else None


segments = st.text(alphabet="abc", min_size=1, max_size=3)
prefixes = st.lists(segments, min_size=1, max_size=4).map(lambda s: "/" + "/".join(s))


@given(st.sets(prefixes, max_size=12), st.lists(st.text(alphabet="abc", max_size=3), max_size=6))
def test_match_is_the_longest_prefix_on_a_segment_boundary(
    mounts: set[str], parts: list[str]
) -> None:
    path = "".join("/" + part for part in parts)
    table = PrefixTable({m: m for m in mounts})
    assert table.match(path) == _brute_force(mounts, path)
