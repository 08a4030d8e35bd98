"""The site ``appmux serve --dev`` gives uvicorn's reloader, built in the reloaded process.

uvicorn's reloader imports an app factory by name in each fresh process;
:func:`create` builds the ASGI site of the config that ``APPMUX_DEV_CONFIG`` names.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from werkzeug.exceptions import InternalServerError

from ..asgi.answers import ExceptionApp
from ..interop import settings
from .config import ConfigError, load_config
from .site import served_site

__all__ = ["CONFIG_ENV", "create"]

logger = logging.getLogger("appmux")

#: The environment variable naming the config file for the reloaded process.
CONFIG_ENV = "APPMUX_DEV_CONFIG"


def create() -> Any:
    """The ASGI site of ``$APPMUX_DEV_CONFIG``; while the config is broken, a site that
    answers ``500`` with its one-line error (the next edit reloads again)."""
    try:
        config = load_config(os.environ[CONFIG_ENV])
        settings.threads = config.asgi.threads
        settings.drain_timeout = config.asgi.drain_timeout
        settings.lifespan_timeout = config.asgi.lifespan_timeout
        return served_site(config, front="asgi").app
    except ConfigError as exc:
        logger.error("%s", exc)
        return ExceptionApp(InternalServerError(f"The site's config is broken: {exc}"))
