"""`auroragpt exercises list|check NN [--file PATH]`: the workshop exercises and their checks."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "exercises", help="list the workshop exercises or check a solution",
        description="Workshop exercises: each has a task (README.md), a starter.py with TODOs "
                    "and automatic checks. Fill in the TODOs, then check your file.")
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--dir", metavar="PATH",
                       help="the exercises folder (default: $AURORAGPT_EXERCISES, "
                            "./exercises, or the one in the auroragpt checkout)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="list the exercises", parents=[where])
    listing.set_defaults(func=_list)

    checking = actions.add_parser(
        "check", help="run an exercise's checks on your file", parents=[where],
        description="Run the checks of exercise NN on your file and print which pass, with "
                    "hints. Exits 0 only when every check passes.")
    checking.add_argument("exercise", metavar="NN",
                          help="exercise number (e.g. 02) or folder name (e.g. 02-attention)")
    checking.add_argument("--file", metavar="PATH",
                          help="your solution file (default: the exercise's starter.py)")
    checking.add_argument("--timeout", type=float, metavar="S", default=None,
                          help="seconds allowed per check before it counts as hanging "
                               "(default: 60)")
    checking.add_argument("--seed", type=int, default=0,
                          help="seed of the random inputs (default: 0)")
    checking.set_defaults(func=_check)


def _list(args: argparse.Namespace) -> int:
    from auroragpt.exercise_checker import (
        ExerciseError,
        discover,
        exercises_root,
        format_exercise_list,
    )

    try:
        root = exercises_root(args.dir)
        print(f"exercises in {root}:")
        print(format_exercise_list(discover(root)))
    except ExerciseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _check(args: argparse.Namespace) -> int:
    from auroragpt.exercise_checker import (
        DEFAULT_TIMEOUT_S,
        ExerciseError,
        exercises_root,
        find_exercise,
        format_report,
        run_checks,
    )

    timeout = args.timeout if args.timeout is not None else DEFAULT_TIMEOUT_S
    if timeout <= 0:
        print(f"error: --timeout must be > 0 seconds, got {timeout:g}", file=sys.stderr)
        return 2
    try:
        exercise = find_exercise(args.exercise, exercises_root(args.dir))
        report = run_checks(exercise, args.file, timeout_s=timeout, seed=args.seed)
    except ExerciseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_report(report))
    return 0 if report.passed else 1
