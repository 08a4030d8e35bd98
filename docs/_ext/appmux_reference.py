"""Sphinx directives that render appmux's references from the code.

* ``appmux-config``: every ``appmux.toml`` key (``appmux.serve.reference``);
  a key the parser accepts without documentation is a build error.
* ``appmux-metrics``: every metric the exporter creates, with its labels.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {row[0]}")
        lines += [f"     - {cell}" for cell in row[1:]]
    return [*lines, ""]


class _Generated(SphinxDirective):
    has_content = False

    def lines(self) -> list[str]:
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        container = nodes.container()
        self.state.nested_parse(StringList(self.lines(), "<appmux-reference>"), 0, container)
        return list(container.children)


class ConfigReference(_Generated):
    """Every table and key of ``appmux.toml``."""

    def lines(self) -> list[str]:
        from appmux.serve.reference import TABLES, undocumented

        missing = undocumented()
        if missing:
            raise ExtensionError(f"appmux.toml keys without documentation: {', '.join(missing)}")
        out: list[str] = []
        for table in TABLES:
            out += [table.title, "-" * len(table.title), "", table.about, ""]
            rows = [
                [f"``{k.name}``", k.type, f"``{k.default}``" if k.default != "-" else "-", k.meaning]
                for k in table.keys
            ]
            out += _table(["key", "type", "default", "meaning"], rows)
        return out


class MetricsReference(_Generated):
    """Every metric ``/metrics`` exports."""

    def lines(self) -> list[str]:
        from appmux.observe.exporter import describe_metrics

        rows = [
            [f"``{name}``", kind, ", ".join(f"``{label}``" for label in labels) or "-", doc]
            for name, kind, labels, doc in describe_metrics()
        ]
        return _table(["metric", "type", "labels", "meaning"], rows)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("appmux-config", ConfigReference)
    app.add_directive("appmux-metrics", MetricsReference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
