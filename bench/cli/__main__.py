"""`python -m bench.cli ...`, the same as `python -m bench ...`."""

from bench.cli.main import main

main()
