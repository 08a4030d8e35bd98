"""Turning the core's :class:`~appmux.core.routing.Answer` into a WSGI response.

Answers are werkzeug's HTTP exceptions (short HTML pages naming no internals),
with ``Retry-After`` for 503s and a ``Location`` on the same URL for 308s.
"""

from __future__ import annotations

from urllib.parse import quote

from werkzeug.exceptions import HTTPException, ServiceUnavailable, default_exceptions
from werkzeug.routing import RequestRedirect

from ..core.routing import Answer
from .environ import request_host
from .types import Environ, ResponseBody, StartResponse

__all__ = ["answer_app", "respond"]


class _Status(HTTPException):
    """An answer with a status werkzeug has no class for."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code


def answer_app(answer: Answer) -> HTTPException:
    """The werkzeug exception (a WSGI app) that gives ``answer`` (not for redirects)."""
    if answer.status == 503:
        return ServiceUnavailable(answer.message, retry_after=answer.retry_after)
    cls = default_exceptions.get(answer.status)
    if cls is None:
        return _Status(answer.status, answer.message)
    return cls(answer.message)


def respond(answer: Answer, environ: Environ, start_response: StartResponse) -> ResponseBody:
    """Answer the request with ``answer``."""
    if answer.redirect_host is not None:
        return RequestRedirect(moved_url(environ, answer.redirect_host))(environ, start_response)
    return answer_app(answer)(environ, start_response)


def moved_url(environ: Environ, host: str) -> str:
    """This request's URL on ``host`` (same scheme, port, path and query)."""
    raw = request_host(environ)
    port = raw.rpartition(":")[2] if not raw.endswith("]") and ":" in raw else ""
    path = quote(
        (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")).encode("latin-1"),
        safe="/;=,~!$&'()*+@:%",
    )
    query = environ.get("QUERY_STRING", "")
    url = f"{environ.get('wsgi.url_scheme', 'http')}://{host}{':' + port if port else ''}{path}"
    return f"{url}?{query}" if query else url
