"""The demo's Flask API, mounted at ``/backend``."""

from __future__ import annotations

from flask import Flask, jsonify, request, url_for
from flask.typing import ResponseReturnValue

application = Flask(__name__)


@application.route("/")
def index() -> ResponseReturnValue:
    return jsonify(
        app="backend",
        script_root=request.script_root,
        users_url=url_for("users"),
    )


@application.route("/users")
def users() -> ResponseReturnValue:
    return jsonify(users=["ada", "grace"], url=url_for("users", _external=True))
