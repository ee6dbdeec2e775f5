"""Commands whose options come from a module that is slow to import.

Every ``ml2`` run builds the whole command tree, so a command that needs, say, the agent's
runner or the database migrations just to declare its options would make every other command
wait for them. Such a command's parser is a ``DeferredParser``: it takes ``setup``, which adds
the options, and calls it the first time the command is parsed or its help or usage is
printed, i.e. only when that command runs. What the command accepts and prints is the same.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

Setup = Callable[[argparse.ArgumentParser], None]
"""Adds a command's options (and their groups) to its parser."""


class DeferredParser(argparse.ArgumentParser):
    """A command's parser whose options ``setup`` adds on first use.

    Used as the ``parser_class`` of a command group's subparsers:
    ``cmds.add_parser("run", help=..., setup=add_options)``; without ``setup`` it is an
    ordinary parser.
    """

    def __init__(self, *args: Any, setup: Setup | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._setup = setup

    def complete(self) -> None:
        """Adds the deferred options now (once)."""
        setup, self._setup = self._setup, None
        if setup is not None:
            setup(self)

    def parse_known_args(self, *args: Any, **kwargs: Any) -> Any:
        """Parses the command's arguments, its options added first."""
        self.complete()
        return super().parse_known_args(*args, **kwargs)

    def format_usage(self, *args: Any, **kwargs: Any) -> str:
        self.complete()
        return super().format_usage(*args, **kwargs)

    def format_help(self, *args: Any, **kwargs: Any) -> str:
        self.complete()
        return super().format_help(*args, **kwargs)
