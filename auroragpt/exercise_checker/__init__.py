"""The workshop-exercise checker: find exercises, run their checks on a learner's file, report.

The exercises themselves (the content) live outside the package, in the repository's
`exercises/` folder (one `NN-topic/` folder each, with a task text, a `starter.py` and a
`checks.py`); this package only knows how to find and run them, hence its name. `checks.py`
files are written with `auroragpt.exercise_checker.checking`.

    from auroragpt.exercise_checker import exercises_root, find_exercise, run_checks, format_report
    report = run_checks(find_exercise("02", exercises_root()), file="my_attention.py")
    print(format_report(report)); report.passed
"""

from auroragpt.exercise_checker.checking import (
    CheckContext,
    CheckFailed,
    check,
    expect_close,
    is_close,
)
from auroragpt.exercise_checker.discovery import (
    Exercise,
    ExerciseError,
    discover,
    exercises_root,
    find_exercise,
)
from auroragpt.exercise_checker.report import format_exercise_list, format_report
from auroragpt.exercise_checker.runner import DEFAULT_TIMEOUT_S, CheckResult, Report, run_checks

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "CheckContext",
    "CheckFailed",
    "CheckResult",
    "Exercise",
    "ExerciseError",
    "Report",
    "check",
    "discover",
    "exercises_root",
    "expect_close",
    "find_exercise",
    "format_exercise_list",
    "format_report",
    "is_close",
    "run_checks",
]
