"""WSGI type aliases shared by the modules (PEP 3333)."""

from __future__ import annotations

from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["Environ", "ResponseBody", "StartResponse", "WSGIApplication"]

Environ = WSGIEnvironment
ResponseBody = Iterable[bytes]
