"""The Django project as an ASGI app (Django's ``ASGIHandler``; it declines lifespan)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_site.settings")

application = get_asgi_application()
