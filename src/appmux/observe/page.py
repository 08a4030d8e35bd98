"""The status page: server-rendered HTML from :func:`~appmux.observe.status.server_status`.

It reads well without JavaScript and at 375 px; a short inline script (nothing
from another origin) re-renders the page's main part every few seconds from
``/status?part=main``, without reloading.
"""

from __future__ import annotations

import time
from html import escape
from typing import Any

__all__ = ["format_status", "render_main", "render_page"]

REFRESH_SECONDS = 3

_STYLE = """
:root { color-scheme: light dark; --muted: #777; --bad: #c0392b; --ok: #27ae60; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; padding: 12px; }
h1 { font-size: 1.3rem; margin: 0 0 4px; } h2 { font-size: 1.05rem; margin: 20px 0 6px; }
.meta { color: var(--muted); font-size: .85rem; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #8884; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.bad { color: var(--bad); font-weight: 600; } .ok { color: var(--ok); }
.keys { display: flex; flex-wrap: wrap; gap: 4px; padding: 0; list-style: none; margin: 4px 0; }
.keys li { border: 1px solid #8886; border-radius: 4px; padding: 0 6px;
  font-family: ui-monospace, monospace; font-size: .85rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 8px; }
.card { border: 1px solid #8884; border-radius: 6px; padding: 6px 10px; }
.card b { display: block; font-size: 1.2rem; }
"""

_SCRIPT = f"""
(function () {{
  var main = document.getElementById("main");
  function refresh() {{
    fetch("status?part=main", {{cache: "no-store"}})
      .then(function (r) {{ if (!r.ok) throw new Error(r.status); return r.text(); }})
      .then(function (html) {{ main.innerHTML = html; }})
      .catch(function () {{ document.getElementById("live").textContent = "refresh failed"; }});
  }}
  setInterval(refresh, {REFRESH_SECONDS * 1000});
}})();
"""


def _n(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _table(headers: list[str], rows: list[list[str]], table_id: str, numeric: set[int]) -> str:
    head = "".join(
        f"<th{' class=num' if i in numeric else ''}>{escape(h)}</th>" for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if i in numeric else ''}>{cell}</td>" for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    if not rows:
        body = f'<tr><td colspan="{len(headers)}" class="meta">none yet</td></tr>'
    return (
        f'<div class="scroll"><table id="{table_id}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def render_main(status: dict[str, Any]) -> str:
    """The page's main part (what the script re-renders)."""
    parts = []
    server = status["server"]
    parts.append(
        '<div class="cards">'
        f'<div class="card">requests<b id="total-requests">{_n(status["requests"])}</b></div>'
        f'<div class="card">workers<b>{len(status["workers"])}</b></div>'
        f'<div class="card">server<b>{escape(str(server.get("name", "-")))}</b></div>'
        "</div>"
    )
    parts.append("<h2>Routes</h2>")
    route_rows = []
    for row in status["routes"]:
        rate = row["error_rate"]
        shown_rate = (
            "-"
            if rate is None
            else f'<span class="{"bad" if rate > 0.01 else "ok"}">{rate:.1%}</span>'
        )
        route_rows.append(
            [
                escape(row["host"]),
                escape(row["prefix"]),
                _n(row["requests"]),
                shown_rate,
                f"<code>{escape(row['target'])}</code>",
                escape(row["kind"]),
            ]
        )
    headers = ["host", "prefix", "requests", "5xx", "target", "kind"]
    parts.append(_table(headers, route_rows, "routes", {2, 3}))
    for label, d in status["dispatchers"].items():
        parts.append(f"<h2>Tenants: <code>{escape(label)}</code></h2>")
        ratio = "-" if d["hit_ratio"] is None else f"{d['hit_ratio']:.1%}"
        parts.append(
            '<div class="cards">'
            f'<div class="card">live<b class="live-count">{_n(d["live"])}</b></div>'
            f'<div class="card">hit ratio<b>{ratio}</b></div>'
            f'<div class="card">creations<b>{_n(d["creations"])}</b></div>'
            f'<div class="card">failures<b class="{"bad" if d["creation_failures"] else ""}">'
            f"{_n(d['creation_failures'])}</b></div>"
            f'<div class="card">evictions<b>{_n(d["evictions"])}</b></div>'
            "</div>"
        )
        keys = "".join(f'<li class="tenant-key">{escape(k)}</li>' for k in d["recent_keys"])
        parts.append(f'<p class="meta">Most recently used:</p><ul class="keys">{keys}</ul>')
        failure_rows = [
            [
                time.strftime("%H:%M:%S", time.localtime(f["at"])),
                f'<code class="failure-key">{escape(f["key"])}</code>',
                f'<span class="failure">{escape(f["summary"])}</span>',
                str(f["pid"]),
            ]
            for f in reversed(d["failures"])
        ]
        parts.append('<p class="meta">Last creation failures:</p>')
        parts.append(_table(["time", "key", "error", "pid"], failure_rows, "failures", set()))
        if d.get("rejections"):
            rejected_rows = [
                [
                    time.strftime("%H:%M:%S", time.localtime(r["at"])),
                    f'<code class="rejected-key">{escape(r["key"])}</code>',
                    str(r["pid"]),
                ]
                for r in reversed(d.get("rejected", []))
            ]
            parts.append(
                f'<p class="meta">Rejected at max_concurrency: <b class="bad rejections">'
                f"{_n(d['rejections'])}</b>; the most recent:</p>"
            )
            parts.append(_table(["time", "key", "pid"], rejected_rows, "rejected", set()))
    registry = status["registry"]
    if registry is not None:
        parts.append("<h2>Registry</h2>")
        parts.append(
            f'<p><code id="registry-url">{escape(registry["url"])}</code> · revision '
            f'<b id="registry-revision">{_n(registry["revision"])}</b></p>'
        )
        rows = [
            [
                str(w["pid"]),
                _n(w["revision"]),
                _duration(w["snapshot_age"]),
                '<span class="bad">stale</span>'
                if w["stale"]
                else '<span class="ok">current</span>',
            ]
            for w in registry["workers"]
        ]
        parts.append(_table(["pid", "revision", "snapshot age", ""], rows, "registry-workers", {1}))
    parts.append("<h2>Workers</h2>")
    rows = [
        [
            str(w["pid"]),
            _duration(w["uptime"]),
            _n(w["requests"]),
            f"{w['rss_bytes'] / 2**20:,.1f} MiB",
        ]
        for w in status["workers"]
    ]
    parts.append(_table(["pid", "uptime", "requests", "memory"], rows, "workers", {2, 3}))
    generated = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(status["generated_at"]))
    parts.append(f'<p class="meta">Generated {generated}.</p>')
    return "\n".join(parts)


def render_page(status: dict[str, Any]) -> str:
    """The whole status page."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>appmux status</title><style>{_STYLE}</style></head><body>"
        '<h1>appmux status</h1><p class="meta">Refreshes every '
        f'{REFRESH_SECONDS} s <span id="live"></span></p>'
        f'<main id="main">{render_main(status)}</main>'
        f"<script>{_SCRIPT}</script></body></html>"
    )


def format_status(status: dict[str, Any]) -> str:
    """The same summary as plain text, for ``appmux status``."""
    lines = [
        f"server: {status['server'].get('name', '-')} ({status['server'].get('config', '-')}),"
        f" {len(status['workers'])} workers, {status['requests']:,} requests",
        "",
        "ROUTES",
    ]
    width = max([len(r["label"]) for r in status["routes"]] + [5])
    for row in status["routes"]:
        if row["requests"] is None:  # another row of the node above
            lines.append(f"  {''.ljust(width)}  {'':>9}  {'':>10}  {row['target']}")
            continue
        lines.append(
            f"  {row['label'].ljust(width)}  {row['requests']:>9,}  5xx {row['error_rate']:6.1%}"
            f"  {row['target']}"
        )
    for label, d in status["dispatchers"].items():
        ratio = "-" if d["hit_ratio"] is None else f"{d['hit_ratio']:.1%}"
        lines += [
            "",
            f"TENANTS {label}: {d['live']} live, hit ratio {ratio}, {d['creations']} created,"
            f" {d['creation_failures']} failed, {d['evictions']} evicted",
            f"  recent: {' '.join(d['recent_keys'][:20]) or '-'}",
        ]
        for failure in d["failures"][-5:]:
            when = time.strftime("%H:%M:%S", time.localtime(failure["at"]))
            lines.append(f"  failed {when} {failure['key']}: {failure['summary']}")
        if d.get("rejections"):
            keys = " ".join(dict.fromkeys(r["key"] for r in reversed(d.get("rejected", []))))
            lines.append(f"  rejected at max_concurrency: {d['rejections']:,} ({keys or '-'})")
    registry = status["registry"]
    if registry is not None:
        lines += ["", f"REGISTRY {registry['url']}: revision {registry['revision']}"]
        for w in registry["workers"]:
            flag = "STALE" if w["stale"] else "current"
            lines.append(
                f"  pid {w['pid']}: revision {w['revision']}, snapshot age"
                f" {_duration(w['snapshot_age'])}, {flag}"
            )
    lines += ["", "WORKERS"]
    for w in status["workers"]:
        lines.append(
            f"  pid {w['pid']}: up {_duration(w['uptime'])}, {w['requests']:,} requests,"
            f" {w['rss_bytes'] / 2**20:,.1f} MiB"
        )
    return "\n".join(lines)
