"""A cap on one static app's requests in flight: :class:`ConcurrencyLimit`.

::

    from appmux import ConcurrencyLimit, DispatcherMiddleware
    application = DispatcherMiddleware(frontend, {
        "/reports": ConcurrencyLimit(reports_app, max_concurrency=4),
    })

A request over the cap waits up to ``queue_timeout`` seconds (0: not at all)
for a slot, then gets ``503 Service Unavailable`` with ``Retry-After: 1``. A
streamed response holds its slot until the server closes it. Lazy and registry
dispatchers take the same cap per tenant as the pool option ``max_concurrency``.
"""

from __future__ import annotations

from ..core.lease import Limit
from ..core.pool import PoolOptions
from ..core.router import BUSY
from ..core.routing import Answer
from ..interop import as_wsgi
from .answers import answer_app
from .body import ReleasingBody
from .types import Environ, ResponseBody, StartResponse, WSGIApplication

__all__ = ["ConcurrencyLimit"]


class ConcurrencyLimit:
    """Serve ``app`` with at most ``max_concurrency`` requests in flight in this process."""

    def __init__(
        self, app: WSGIApplication, max_concurrency: int, *, queue_timeout: float = 0.0
    ) -> None:
        # The pool options' own checks: the same rules and words as for tenants.
        PoolOptions(max_concurrency=max_concurrency, queue_timeout=queue_timeout)
        wsgi_app = as_wsgi(app, "the limited app")
        assert wsgi_app is not None
        self.app = wsgi_app
        self.limit = Limit(max_concurrency, float(queue_timeout))
        #: Requests refused at the cap.
        self.rejections = 0
        self._busy = answer_app(Answer(503, BUSY, retry_after=1))

    def __call__(self, environ: Environ, start_response: StartResponse) -> ResponseBody:
        limit = self.limit
        if not limit.acquire():
            self.rejections += 1
            return self._busy(environ, start_response)
        try:
            body = self.app(environ, start_response)
        except BaseException:
            limit.release()
            raise
        return ReleasingBody(body, limit.release)
