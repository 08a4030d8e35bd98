"""The protocol-neutral core: routing rules on plain strings, and the instance pool.

Nothing here imports werkzeug, a server, or a protocol layer, and nothing does
I/O: the WSGI layer (``appmux.wsgi``) and the ASGI layer read raw values
from their requests, ask the core, and apply what it decided.

* :mod:`~appmux.core.hosts` — host parsing, host tables, the raw-host memo.
* :mod:`~appmux.core.prefixes` — the prefix table and the one path-head split.
* :mod:`~appmux.core.keys` — key rules (subdomain, host, header, path segment).
* :mod:`~appmux.core.pool` — the bounded, single-flight instance pool and its options.
* :mod:`~appmux.core.lease` — an app's in-flight requests, for safe closing.
* :mod:`~appmux.core.routing` — :class:`Route` and :class:`Answer`, what routing decides.
* :mod:`~appmux.core.router` — a lazy dispatcher's key → route resolution and memo.
"""
