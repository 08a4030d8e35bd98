"""Settings of the demo's Django project, mounted at ``/legacy``."""

from __future__ import annotations

import os

SECRET_KEY = os.environ.get("LEGACY_SECRET_KEY", "demo-only-not-secret")
DEBUG = False
# appmux validates Host before Django sees it; these are the demo's hosts.
ALLOWED_HOSTS = ["localhost", ".localhost", "127.0.0.1", "[::1]", "testserver"]
ROOT_URLCONF = "legacy_site.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
WSGI_APPLICATION = "legacy_site.wsgi.application"
