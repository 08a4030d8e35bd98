"""``python -m appmux`` and the ``appmux`` console script: the command line.

The command line needs the ``serve`` extra (click and the servers); without it
the command says so in one line instead of a traceback.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Run the ``appmux`` command."""
    try:
        from appmux.cli import main as run
    except ImportError as exc:
        if exc.name == "click":
            print(
                "appmux: the command line needs the serve extra: pip install 'appmux[serve]'",
                file=sys.stderr,
            )
            sys.exit(1)
        raise
    run()


if __name__ == "__main__":
    main()
