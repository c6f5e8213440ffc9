"""The child process that imports a learner's file and runs an exercise's checks on it.

Run by `auroragpt.exercise_checker.runner` as `python -m auroragpt.exercise_checker.worker ...`,
never by hand. It talks to the runner in JSON lines on its original stdout; everything the
learner's code prints is moved to stderr, which the runner collects separately. Running apart
means a learner's infinite loop, `exit()` or crash costs one check, not the checker.

Events, in order: `checks` (the list of checks), `loaded` or `load_failed`, then `start` and
`result` per check (from `--start` on).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from auroragpt.exercise_checker.checking import (
    CheckContext,
    CheckFailed,
    ForbiddenCall,
    checks_in,
    forbid,
)

LEARNER_MODULE = "learner_solution"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checks", help="the exercise's checks.py")
    parser.add_argument("learner", help="the learner's file, already found to be valid Python")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=int, default=0, help="index of the first check to run")
    args = parser.parse_args(argv)
    # One spelling of the path throughout: frames of the learner's code are recognised by it.
    learner_path = str(Path(args.learner).resolve())

    # NOTE: closing the channel is the runner's signal that this child is finished; anything
    # the learner's code left running (a thread, an atexit handler) is then killed, not awaited.
    with _protocol_channel() as protocol:

        def send(**event: Any) -> None:
            print(json.dumps(event), file=protocol, flush=True)

        return _run(args.checks, learner_path, args.seed, args.start, send)


def _run(checks_path: str, learner_path: str, seed: int, start: int,
         send: Callable[..., None]) -> int:
    with warnings.catch_warnings():
        # NOTE: references such as megatron-core warn about optional accelerators on import;
        # that is noise to a learner, so only warnings raised by their own code are shown.
        warnings.simplefilter("ignore")
        checks_module = _import_path(Path(checks_path), "exercise_checks")
    checks = checks_in(checks_module)
    send(event="checks", checks=[{"description": spec.description, "hint": spec.hint}
                                 for _, _, spec in checks])

    for target, reason in getattr(checks_module, "FORBIDDEN", {}).items():
        forbid(target, reason, learner_path)
    try:
        learner = _import_path(Path(learner_path), LEARNER_MODULE)
    except BaseException as err:  # noqa: BLE001 - whatever the learner's import does is reported
        send(event="load_failed", message=describe_learner_error(err, learner_path))
        return 1
    send(event="loaded")

    with tempfile.TemporaryDirectory(prefix="auroragpt-exercise-") as workdir:
        for index in range(start, len(checks)):
            _, fn, _ = checks[index]
            send(event="start", index=index)
            context = CheckContext(learner, seed, Path(workdir) / f"check{index}")
            context.workdir.mkdir()
            status, message = run_one(fn, context, learner_path)
            send(event="result", index=index, status=status, message=message)
    return 0


def run_one(fn: Any, context: CheckContext, learner_path: str) -> tuple[str, str]:
    """Run one check: ("PASS" | "FAIL" | "TODO" | "ERROR", message for the learner)."""
    try:
        fn(context)
    except (CheckFailed, ForbiddenCall) as err:
        return "FAIL", str(err)
    except NotImplementedError as err:
        return "TODO", _todo_message(err, learner_path)
    except BaseException as err:  # noqa: BLE001 - a learner's bug, exit() or recursion included
        if isinstance(err, KeyboardInterrupt):
            raise
        if _learner_frames(err, learner_path):
            return "ERROR", describe_learner_error(err, learner_path)
        # The failure surfaced inside the check or the library: almost always a result of the
        # wrong kind (a list for a tensor, a tuple for a float), so say that.
        return "FAIL", (f"could not use your result: {type(err).__name__}: {err} "
                        "(check the type and shape your function returns against its docstring)")
    return "PASS", ""


def describe_learner_error(err: BaseException, learner_path: str) -> str:
    """`ValueError: msg` and the lines of the learner's file it passed through; no checker frames."""
    if isinstance(err, SystemExit):
        headline = "your code called exit() / sys.exit(); return a value instead"
    else:
        headline = f"your code raised {type(err).__name__}: {err}"
    lines = [headline]
    for frame in _learner_frames(err, learner_path):
        lines.append(f"  {Path(frame.filename).name}:{frame.lineno} in {frame.name}: "
                     f"{(frame.line or '').strip()}")
    if isinstance(err, SyntaxError) and err.lineno is not None:
        lines.append(f"  {Path(err.filename or learner_path).name}:{err.lineno}: "
                     f"{(err.text or '').strip()}")
    return "\n".join(lines)


def _todo_message(err: NotImplementedError, learner_path: str) -> str:
    frames = _learner_frames(err, learner_path)
    if not frames:  # raised by the library, not a TODO of the learner's
        return f"NotImplementedError outside your file: {err}"
    frame = frames[-1]
    detail = f" ({err})" if str(err) and not str(err).startswith("TODO") else ""
    return (f"TODO: not implemented yet: {frame.name} "
            f"({Path(frame.filename).name} line {frame.lineno}){detail}")


def _learner_frames(err: BaseException, learner_path: str) -> list[traceback.FrameSummary]:
    return [f for f in traceback.extract_tb(err.__traceback__) if f.filename == learner_path]


def _import_path(path: Path, name: str) -> ModuleType:
    """Import a file as module `name`; its folder goes on sys.path for its own helper modules."""
    # NOTE: no __pycache__ beside exercises and learners' files: it would litter a hand-out, and
    # a file edited twice within a second at the same size could be run from a stale cache.
    sys.dont_write_bytecode = True
    spec = importlib.util.spec_from_file_location(name, str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look a module up by name
    sys.path.insert(0, str(path.parent))
    spec.loader.exec_module(module)
    return module


def _protocol_channel() -> TextIO:
    """Keep the real stdout for events and send fd 1 (the learner's prints) to stderr."""
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return channel


if __name__ == "__main__":
    sys.exit(main())
