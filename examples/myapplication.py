"""The ``myapplication`` module that Flask's "Application Dispatching" page imports.

A tiny multi-tenant Flask app: ``create_app(user)`` builds one isolated
instance per user, and the lookups below say which users exist.
"""

from __future__ import annotations

from flask import Flask, url_for

USERS = {"acme": "Acme Corp", "globex": "Globex Corporation"}


def get_user_for_subdomain(subdomain: str) -> str | None:
    """The user owning ``subdomain``, or ``None``."""
    return subdomain if subdomain in USERS else None


def get_user_for_prefix(prefix: str) -> str | None:
    """The user owning path prefix ``prefix``, or ``None``."""
    return prefix if prefix in USERS else None


def create_app(user: str) -> Flask:
    """One Flask instance for ``user``, with its own configuration."""
    app = Flask(f"tenant_{user}")
    app.config["USER"] = user

    @app.route("/")
    def index() -> str:
        return (
            f"<!doctype html><title>{USERS[user]}</title>"
            f'<h1 id="tenant">{USERS[user]}</h1>'
            f'<a id="about" href="{url_for("about")}">about</a>'
        )

    @app.route("/about")
    def about() -> str:
        return f"about {user}: {url_for('index', _external=True)}"

    return app


default_app = Flask("default")


@default_app.route("/")
def default_index() -> str:
    return "default app"
