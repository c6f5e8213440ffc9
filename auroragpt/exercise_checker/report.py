"""Plain-text rendering of a check report and of the list of exercises, for a terminal."""

from __future__ import annotations

import textwrap
from pathlib import Path

from auroragpt.exercise_checker.discovery import Exercise
from auroragpt.exercise_checker.runner import Report

OUTPUT_TAIL_LINES = 30  # lines of the learner's own prints shown under the results
INDENT = " " * 10  # messages line up under the check descriptions
WIDTH = 100


def format_report(report: Report) -> str:
    lines = [f"exercise {report.exercise.name}: {report.exercise.title}",
             f"checking {_display_path(report.file)}", ""]
    if report.load_error is not None:
        lines += ["could not run the checks:", textwrap.indent(report.load_error, "  ")]
    else:
        for result in report.results:
            lines.append(f"  {result.status:<7} {result.description}")
            if result.message:
                lines += _wrapped(result.message)
            if result.status in ("FAIL", "ERROR") and result.hint:
                lines += _wrapped(f"hint: {result.hint}")
    if report.output.strip():
        tail = report.output.rstrip().splitlines()[-OUTPUT_TAIL_LINES:]
        lines += ["", "what your code printed (last lines):"]
        lines += [f"  | {line}" for line in tail]
    lines += ["", _summary(report)]
    return "\n".join(lines)


def _wrapped(text: str) -> list[str]:
    """Text indented under the check descriptions, each of its lines wrapped to the width."""
    return [wrapped for line in text.splitlines()
            for wrapped in textwrap.wrap(line, WIDTH, initial_indent=INDENT,
                                         subsequent_indent=INDENT + "  ",
                                         break_on_hyphens=False)]


def _summary(report: Report) -> str:
    if report.load_error is not None:
        return "no checks ran: fix the problem above and run again."
    passed = sum(r.passed for r in report.results)
    total = len(report.results)
    if passed == total:
        return f"all {total} checks pass. Well done!"
    todo = sum(r.status == "TODO" for r in report.results)
    advice = ("fill in the TODOs in the starter, then run again." if todo == total
              else "fix the first check that does not pass, then run again.")
    return f"{passed} of {total} checks pass: {advice}"


def format_exercise_list(exercises: list[Exercise]) -> str:
    width = max((len(e.name) for e in exercises), default=0)
    lines = [f"  {e.name:<{width}}  {e.title}" for e in exercises]
    lines += ["", "check one with: auroragpt exercises check NN [--file PATH]"]
    return "\n".join(lines)


def _display_path(path: Path) -> str:
    """Relative to the current folder when inside it (what the learner typed), else absolute."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)
