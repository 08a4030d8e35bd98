"""Flask's "Combining Applications" example, with only the import changed.

Run: python examples/prefix_dispatch.py, then open http://localhost:5000/backend/
"""

from backend_app import application as backend
from frontend_app import application as frontend

from appmux import DispatcherMiddleware

application = DispatcherMiddleware(frontend, {
    '/backend': backend
})

if __name__ == "__main__":
    from werkzeug.serving import run_simple

    run_simple("localhost", 5000, application, use_reloader=True)
