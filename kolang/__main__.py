"""`python -m kolang` runs the CLI."""

from kolang.cli import main

main()
