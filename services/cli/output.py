"""Printing a command's result: protobuf JSON with ``--json``, a readable text otherwise."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import TypeVar

from google.protobuf import message

from services.cli import render

M = TypeVar("M", bound=message.Message)


def one(args: argparse.Namespace, msg: M, text: Callable[[M], str]) -> int:
    """Prints one resource; returns exit status 0."""
    print(render.to_json(msg) if args.json else text(msg))
    return 0


def many(args: argparse.Namespace, msgs: Sequence[M], text: Callable[[Sequence[M]], str]) -> int:
    """Prints a list of resources (a JSON array with ``--json``); returns exit status 0."""
    print(render.list_json(msgs) if args.json else text(msgs))
    return 0
