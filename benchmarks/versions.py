"""Hot paths of two appmux versions in one process: ``python -m benchmarks.versions OLD_SRC``.

``OLD_SRC`` is the ``src`` folder of another checkout (``git worktree add
/tmp/old <rev>``, then ``/tmp/old/src``). Its ``appmux`` package is copied
under the name ``appmux_old`` (its imports are relative), so both versions
run side by side, interleaved and shuffled, against the raw app: the ratio of
their added costs is the change, free of the run-to-run noise of two runs.
"""

from __future__ import annotations

import argparse
import importlib
import random
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import appmux

from .harness import App, compare, environ_for, raw_app


def load_old(src: Path) -> ModuleType:
    """The ``appmux`` package under ``src``, imported as ``appmux_old``."""
    folder = Path(tempfile.mkdtemp(prefix="appmux-old-"))
    shutil.copytree(src / "appmux", folder / "appmux_old")
    sys.path.insert(0, str(folder))
    return importlib.import_module("appmux_old")


def dispatchers(module: Any) -> dict[str, App]:
    """One dispatcher of each kind, as the micro benchmarks build them."""
    return {
        "prefix, 100 mounts": module.DispatcherMiddleware(
            raw_app, {f"/m{i}": raw_app for i in range(100)}
        ),
        "subdomain hit": module.SubdomainDispatcher("example.com", lambda key: raw_app),
        "path hit": module.PathDispatcher(raw_app, lambda key: raw_app),
        "host, 1000 hosts": module.HostDispatcher(
            {f"t{i}.example.com": raw_app for i in range(1000)}
        ),
    }


def requests(case: str, rng: random.Random) -> list[dict[str, Any]]:
    if case.startswith("prefix"):
        return [environ_for(f"/m{rng.randrange(100)}/item{i}") for i in range(1000)]
    if case.startswith("path"):
        return [environ_for(f"/t{rng.randrange(1000)}/x") for _ in range(4096)]
    return [environ_for("/", host=f"t{rng.randrange(1000)}.example.com") for _ in range(4096)]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.versions", description=__doc__)
    parser.add_argument("old_src", type=Path, help="the src folder of the other version")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()
    old = dispatchers(load_old(args.old_src))
    new = dispatchers(appmux)
    rng = random.Random(1)
    print("case | raw ns | old added | new added | new/old")
    for case in new:
        environs = requests(case, rng)
        ns = compare(
            {"raw": raw_app, "old": old[case], "new": new[case]},
            environs,
            rounds=args.rounds,
            calls=args.calls,
        )
        old_added, new_added = ns["old"] - ns["raw"], ns["new"] - ns["raw"]
        print(
            f"{case} | {ns['raw']:.0f} | {old_added:.0f} | {new_added:.0f} |"
            f" {new_added / old_added:.2f}x"
        )


if __name__ == "__main__":
    main()
