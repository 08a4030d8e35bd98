"""Serving a site from one file: the config schema, the site builder, the server adapters.

* :mod:`~appmux.serve.config` — ``appmux.toml``'s schema and its one-line errors.
* :mod:`~appmux.serve.refs` — ``module:attr`` references, parsed with ``ast``.
* :mod:`~appmux.serve.site` — config → one WSGI app; the routing table; resolving a URL.
* :mod:`~appmux.serve.servers` — gunicorn, waitress and werkzeug's dev server.
"""
