"""App references: ``"package.module:attr"`` and ``"package.module:factory(args)"``.

The convention of Flask, gunicorn and uvicorn. The part after the colon is
parsed with :mod:`ast` and its arguments must be literals: nothing is ever
``eval``-ed.

>>> parse_reference("myapp.web:create_app('prod', debug=False)")
Reference(module='myapp.web', attr='create_app', args=('prod',), kwargs={'debug': False}, call=True)
"""

from __future__ import annotations

import ast
import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BadReference", "Reference", "load_reference", "parse_reference"]


class BadReference(Exception):
    """A reference that is malformed, does not import, or fails when called."""


@dataclass(frozen=True)
class Reference:
    """A parsed reference: import ``module``, take ``attr``, maybe call it."""

    module: str
    attr: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    call: bool = False


def parse_reference(text: str) -> Reference:
    """Parse ``text``; raises :class:`BadReference` saying what is wrong."""
    if not isinstance(text, str):
        raise BadReference(f"expected a 'module:attr' string, not {type(text).__name__}")
    module, colon, expression = text.partition(":")
    if not colon or not expression.strip():
        raise BadReference(f"{text!r} is not of the form 'module:attr' or 'module:factory()'")
    if not all(part.isidentifier() for part in module.split(".")):
        raise BadReference(f"{module!r} is not a module name")
    try:
        node = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError:
        raise BadReference(f"{expression!r} is not an attribute name or call") from None
    if isinstance(node, ast.Name):
        return Reference(module, node.id)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        try:
            args = tuple(ast.literal_eval(arg) for arg in node.args)
            kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
        except ValueError:
            raise BadReference(f"the arguments in {expression!r} must be literals") from None
        if any(kw.arg is None for kw in node.keywords):
            raise BadReference(f"**kwargs are not allowed in {expression!r}")
        return Reference(module, node.func.id, args, kwargs, call=True)
    raise BadReference(f"{expression!r} is not an attribute name or a call with literals")


def load_reference(text: str, search_path: Path | None = None) -> Any:
    """Import and return what ``text`` names, calling it if it is a call.

    ``search_path`` (the config file's folder) is put first on ``sys.path``.
    Import errors, missing attributes and failing calls become
    :class:`BadReference` with the original error in the message.
    """
    ref = parse_reference(text)
    if search_path is not None and str(search_path) not in sys.path:
        sys.path.insert(0, str(search_path))
    try:
        module = importlib.import_module(ref.module)
    except Exception as exc:  # any error while importing user code
        raise BadReference(f"{text!r} does not import: {type(exc).__name__}: {exc}") from exc
    try:
        obj = getattr(module, ref.attr)
    except AttributeError:
        raise BadReference(f"module {ref.module!r} has no attribute {ref.attr!r}") from None
    if ref.call:
        if not callable(obj):
            raise BadReference(f"{ref.module}:{ref.attr} is not callable")
        try:
            obj = obj(*ref.args, **ref.kwargs)
        except Exception as exc:
            raise BadReference(f"calling {text!r} failed: {type(exc).__name__}: {exc}") from exc
    return obj
