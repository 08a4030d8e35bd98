"""The dispatchers exactly as Flask's "Application Dispatching" page prints them.

They are the baseline appmux replaces. ``peek_path_info`` and ``pop_path_info``
were removed from werkzeug in 2.3; they are ported here with werkzeug 2.2's
semantics (strip leading slashes, split off one segment, decode latin-1 bytes
as UTF-8 with "replace"), because the documented PathDispatcher imports them.
"""

# ruff: noqa: UP004 - the documentation's code, kept as printed

from threading import Lock


def peek_path_info(environ, charset="utf-8", errors="replace"):
    """werkzeug 2.2's ``peek_path_info``: the next path segment, not consumed."""
    segments = environ.get("PATH_INFO", "").lstrip("/").split("/", 1)
    if segments:
        return segments[0].encode("latin1").decode(charset, errors)
    return None


def pop_path_info(environ, charset="utf-8", errors="replace"):
    """werkzeug 2.2's ``pop_path_info``: move one segment to SCRIPT_NAME."""
    path = environ.get("PATH_INFO")
    if not path:
        return None
    script_name = environ.get("SCRIPT_NAME", "")
    old_path = path
    path = path.lstrip("/")
    if path != old_path:
        script_name += "/" * (len(old_path) - len(path))
    if "/" not in path:
        environ["PATH_INFO"] = ""
        environ["SCRIPT_NAME"] = script_name + path
        rv = path.encode("latin1")
    else:
        segment, path = path.split("/", 1)
        environ["PATH_INFO"] = f"/{path}"
        environ["SCRIPT_NAME"] = script_name + segment
        rv = segment.encode("latin1")
    return rv.decode(charset, errors)


class SubdomainDispatcher(object):

    def __init__(self, domain, create_app):
        self.domain = domain
        self.create_app = create_app
        self.lock = Lock()
        self.instances = {}

    def get_application(self, host):
        host = host.split(':')[0]
        assert host.endswith(self.domain), 'Configuration error'
        subdomain = host[:-len(self.domain)].rstrip('.')
        with self.lock:
            app = self.instances.get(subdomain)
            if app is None:
                app = self.create_app(subdomain)
                self.instances[subdomain] = app
            return app

    def __call__(self, environ, start_response):
        app = self.get_application(environ['HTTP_HOST'])
        return app(environ, start_response)


class PathDispatcher(object):

    def __init__(self, default_app, create_app):
        self.default_app = default_app
        self.create_app = create_app
        self.lock = Lock()
        self.instances = {}

    def get_application(self, prefix):
        with self.lock:
            app = self.instances.get(prefix)
            if app is None:
                app = self.create_app(prefix)
                if app is not None:
                    self.instances[prefix] = app
            return app

    def __call__(self, environ, start_response):
        app = self.get_application(peek_path_info(environ))
        if app is not None:
            pop_path_info(environ)
        else:
            app = self.default_app
        return app(environ, start_response)
