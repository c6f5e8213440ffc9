"""The `auroragpt` command.

Thin by design: each command group lives in its own small module here, which only declares its
arguments and hands them to library functions. Heavy imports happen inside the handlers so that
`auroragpt --help` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Command-group modules, each exposing `register(subparsers)`; a module that is not written yet
# is simply absent from the list.
COMMAND_MODULES = [
    "auroragpt.cli.train",
    "auroragpt.cli.launch",
    "auroragpt.cli.data",
    "auroragpt.cli.eval",
    "auroragpt.cli.exercises",
    "auroragpt.cli.plan",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auroragpt",
        description="Train, launch, evaluate and export Llama-style models, from a laptop to Aurora.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
