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
    args, extra = parser.parse_known_args(argv)
    if extra:
        # KEY=VALUE overrides may follow options too (`train --run-dir R a.b=1 --resume c.d=2`)
        if hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = [*args.overrides, *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if not _is_user_error(err):
            raise
        print(f"auroragpt {args.command}: error: {err}".splitlines()[0], file=sys.stderr)
        return 2


def _is_user_error(err: Exception) -> bool:
    """Errors that are the input's or the environment's fault, not a bug: a one-line message.

    Commands report their own domain errors; this net catches what reaches it from any
    command (a device named in the environment that is missing, a directory that cannot be
    written, ...). Only modules already imported can have raised, so nothing is imported here
    that was not.
    """
    names = {"auroragpt.config": "ConfigError", "auroragpt.data.errors": "DataError",
             "auroragpt.checkpoint.layout": "CheckpointError",
             "auroragpt.distributed.env": "DistEnvError",
             "auroragpt.distributed.launcher": "LaunchError",
             "auroragpt.eval.hf": "ConversionError", "auroragpt.train.run": "RunDirError",
             "auroragpt.train.loop": "TrainingError"}
    classes = [getattr(sys.modules[m], n) for m, n in names.items() if m in sys.modules]
    return isinstance(err, (OSError, *classes))


if __name__ == "__main__":
    sys.exit(main())
