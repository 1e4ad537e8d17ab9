"""`python -m omnimind` is the `omnimind` command."""

from omnimind.cli.main import main

main()
