"""`python -m kfops` — the same entry point as the `kfops` console script."""

from kfops.cli.main import main

main()
