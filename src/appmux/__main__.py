"""``python -m appmux``: the command line."""

from appmux.cli import main

main()
