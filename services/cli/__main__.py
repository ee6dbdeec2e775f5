"""``python -m services.cli``: the same as the installed ``ml2`` command."""

from services.cli.main import main

main()
