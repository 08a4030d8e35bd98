"""Sphinx configuration for appmux's documentation (``make docs``).

Offline by design: no intersphinx inventories are fetched. The configuration,
CLI and metrics references are generated from the code (``_ext/``), so a key,
option or metric added without documentation fails the build.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import appmux  # noqa: E402

project = "appmux"
author = "the appmux developers"
copyright = "2026, the appmux developers"  # noqa: A001 - Sphinx's name
release = appmux.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx_click",
    "appmux_reference",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"appmux {release}"

nitpicky = True
autodoc_typehints = "none"  # the docstrings say what each argument is
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True}
# Names of the standard library, werkzeug and the protocols that no inventory resolves
# offline; appmux's own names must all resolve.
nitpick_ignore_regex = [
    (r"py:.*", r"(typing|collections\.abc|types|dataclasses|wsgiref|threading|asyncio)\..*"),
    (r"py:.*", r"(werkzeug|psycopg|prometheus_client|click|gunicorn|uvicorn)(\..*)?"),
    (r"py:.*", r"(str|int|float|bool|bytes|None|object|Any|Exception|ValueError|KeyError)"),
    (r"py:.*", r"(TypeError|RuntimeError|HTTPException|Callable|Mapping|Iterable|Sequence)"),
]
