"""The cost plot of BENCHMARKS.md: added ns per call vs path depth and vs tenants.

``python -m benchmarks.plot results.json out.png`` redraws it from a saved run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_depth, by_tenants) = plt.subplots(1, 2, figsize=(11, 4.2))
    depth = results["depth"]
    xs = [int(row["case"]) for row in depth]
    for name in ("werkzeug", "appmux"):
        by_depth.plot(xs, [row["added"][name] for row in depth], marker="o", label=name)
    by_depth.set(
        title="Prefix dispatch (100 mounts)",
        xlabel="request path segments",
        ylabel="added ns per request",
    )
    by_depth.legend()
    by_depth.set_ylim(bottom=0)

    for kind, style in (("subdomain", "-"), ("path", "--")):
        rows = [row for row in results["tenants"] if row["scenario"] == kind]
        counts = [int(row["case"].split()[2]) for row in rows]
        for name in ("documented", "appmux", "dict lookup"):
            by_tenants.plot(
                counts,
                [row["added"][name] for row in rows],
                style,
                marker="o",
                label=f"{kind}: {name}",
            )
    by_tenants.set(
        title="Tenant cache hits",
        xlabel="live tenants",
        xscale="log",
        ylabel="added ns per request",
    )
    by_tenants.set_ylim(bottom=0, top=by_tenants.get_ylim()[1] * 1.45)  # room for the legend
    by_tenants.legend(fontsize=7, loc="upper left", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    import json
    import sys

    plot(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
