"""`python -m textfit`: the same as the `textfit` command."""

from textfit.cli.main import main

main()
