"""Flask's "Dispatch by Subdomain" example, with only the import changed.

Run: python examples/subdomain_dispatch.py, then open http://acme.localhost:5000/
(browsers resolve *.localhost to loopback; globex works too, anything else is 404).
"""

from myapplication import create_app, get_user_for_subdomain
from werkzeug.exceptions import NotFound

from appmux import SubdomainDispatcher


def make_app(subdomain):
    user = get_user_for_subdomain(subdomain)
    if user is None:
        # if there is no user for that subdomain we still have
        # to return a WSGI application that handles that request.
        # We can then just return the NotFound() exception as
        # application which will render a default 404 page.
        # You might also redirect the user to the main page then
        return NotFound()

    # otherwise create the application for the specific user
    return create_app(user)

application = SubdomainDispatcher('localhost', make_app)

if __name__ == "__main__":
    from werkzeug.serving import run_simple

    run_simple("localhost", 5000, application, use_reloader=True)
