"""Pure host parsing: normalization, labels, ports, subdomains."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appmux.core.hosts import HostMemo, normalize_domain, parse_host, subdomain_of
from appmux.wsgi.environ import request_host


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.com", "example.com"),
        ("Example.COM", "example.com"),
        ("example.com:8080", "example.com"),
        ("example.com.", "example.com"),
        ("example.com.:1", "example.com"),
        ("localhost", "localhost"),
        ("127.0.0.1:5000", "127.0.0.1"),
        ("[::1]:8000", "[::1]"),
        ("[0:0::1]", "[::1]"),
        ("[2001:DB8::1]", "[2001:db8::1]"),
        ("a" * 63 + ".com", "a" * 63 + ".com"),
        ("", None),
        (".", None),
        ("example.com..", None),
        ("a" * 64 + ".com", None),
        ("-a.com", None),
        ("a-.com", None),
        ("a_b.com", None),
        ("a b.com", None),
        ("example.com:", None),
        ("example.com:65536", None),
        ("example.com:-1", None),
        ("[::1]x", None),
        ("[::1]:", None),
        ("[example.com]", None),
        ("::1", None),
        ("exämple.com", None),
        ("example.com/", None),
    ],
)
def test_parse_host(raw: str, expected: str | None) -> None:
    assert parse_host(raw) == expected


def test_whole_host_is_limited_to_253_characters() -> None:
    name = ".".join(["a" * 63] * 3 + ["b" * 61])  # 253 characters
    assert parse_host(name) == name
    assert parse_host(name + "b") is None


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("example.com", ""),
        ("foo.example.com", "foo"),
        ("a.b.example.com", "a.b"),
        ("evilexample.com", None),
        ("example.com.evil.net", None),
        ("xample.com", None),
        ("com", None),
    ],
)
def test_subdomain_is_matched_on_a_label_boundary(host: str, key: str | None) -> None:
    assert subdomain_of(host, "example.com") == key


def test_normalize_domain_rejects_bad_domains() -> None:
    assert normalize_domain("Example.COM.") == "example.com"
    assert normalize_domain("localhost:5000") == "localhost"
    for bad in ["", "*.example.com", "exa mple.com", "[::1]"]:
        with pytest.raises(ValueError):
            normalize_domain(bad)


def test_request_host_falls_back_to_server_name() -> None:
    assert request_host({"HTTP_HOST": "a.com", "SERVER_NAME": "b.com"}) == "a.com"
    assert request_host({"SERVER_NAME": "b.com"}) == "b.com"
    assert request_host({}) == ""


def test_host_memo_is_bounded_and_consistent() -> None:
    calls: list[str] = []

    def resolve(raw: str) -> str:
        calls.append(raw)
        return raw.upper()

    memo = HostMemo(resolve, limit=10)
    for i in range(1000):
        assert memo(f"h{i}") == f"H{i}"
        assert memo(f"h{i}") == f"H{i}"
    assert len(calls) == 1000  # each computed once, the repeat was a hit
    assert len(memo._memo) <= 10


SAFE_RESULT = re.compile(r"[a-z0-9.-]+|\[[0-9a-f:.]+\]")


@given(st.text(alphabet=string.printable + "\x00\xe9\u0130[]", max_size=80))
def test_parse_host_never_returns_anything_unsafe(raw: str) -> None:
    host = parse_host(raw)
    if host is not None:
        assert SAFE_RESULT.fullmatch(host)
        assert len(host) <= 253
        assert parse_host(host) == host  # idempotent


@given(
    st.lists(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True), max_size=3),
    st.sampled_from(["", ":80", ":8000", "."]),
)
def test_subdomain_round_trips(labels: list[str], suffix: str) -> None:
    host = ".".join([*labels, "example", "com"])
    raw = host.upper() + (suffix if suffix != "." else ".")
    assert subdomain_of(parse_host(raw) or "", "example.com") == ".".join(labels)
