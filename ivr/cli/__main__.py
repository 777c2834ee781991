"""`python -m ivr.cli` runs the `ivr` command."""

from ivr.cli import main

main()
