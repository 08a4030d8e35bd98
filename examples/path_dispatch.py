"""Flask's "Dispatch by Path" example, with only the import changed.

Run: python examples/path_dispatch.py, then open http://localhost:5000/acme/
"""

from myapplication import create_app, default_app, get_user_for_prefix

from appmux import PathDispatcher


def make_app(prefix):
    user = get_user_for_prefix(prefix)
    if user is not None:
        return create_app(user)

application = PathDispatcher(default_app, make_app)

if __name__ == "__main__":
    from werkzeug.serving import run_simple

    run_simple("localhost", 5000, application, use_reloader=True)
