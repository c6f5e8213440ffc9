"""Run an exercise's checks against a learner's file, safely, and collect the results.

The file is first read and compiled here, so a missing file or a syntax error is refused with a
clear message before anything runs. The checks then run in a child process
(`auroragpt.exercise_checker.worker`) under a per-check time limit: a check that runs too long is
reported as a timeout and the child is restarted for the checks after it, so one infinite loop
costs one check. What the learner's code printed is kept for the report.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from auroragpt.exercise_checker.discovery import Exercise, ExerciseError

DEFAULT_TIMEOUT_S = 60.0  # per check, and for importing the learner's file
# Starting the child and importing the checks (torch, megatron-core) is not the learner's code:
# it gets its own, generous limit, so a busy machine is not mistaken for a hanging solution.
STARTUP_TIMEOUT_S = 300.0


@dataclass
class CheckResult:
    description: str
    hint: str | None
    status: str = "NOT RUN"  # PASS | FAIL | TODO | ERROR | TIMEOUT | NOT RUN
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "PASS"


@dataclass
class Report:
    """Everything one `check` produced: per-check results, or why the file could not be loaded."""

    exercise: Exercise
    file: Path
    results: list[CheckResult] = field(default_factory=list)
    load_error: str | None = None
    output: str = ""  # what the learner's code printed

    @property
    def passed(self) -> bool:
        return self.load_error is None and bool(self.results) and all(
            r.passed for r in self.results)


def validate_file(path: Path) -> Path:
    """The learner's file, absolute, once it exists and compiles; else an ExerciseError."""
    if not path.exists():
        raise ExerciseError(f"cannot check {path}: no such file")
    if not path.is_file():
        raise ExerciseError(f"cannot check {path}: not a file")
    try:
        source = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ExerciseError(f"cannot check {path}: not UTF-8 text ({err.reason})") from err
    try:
        compile(source, str(path), "exec")
    except SyntaxError as err:
        raise ExerciseError(_describe_syntax_error(path, err)) from err
    return path.resolve()


def _describe_syntax_error(path: Path, err: SyntaxError) -> str:
    lines = [f"cannot check {path}: syntax error on line {err.lineno}: {err.msg}"]
    if err.text:
        text = err.text.rstrip("\n")
        stripped = text.lstrip()
        lines.append(f"    {stripped}")
        if err.offset:
            column = max(err.offset - 1 - (len(text) - len(stripped)), 0)
            lines.append("    " + " " * column + "^")
    return "\n".join(lines)


def run_checks(exercise: Exercise, file: Path | None = None,
               timeout_s: float = DEFAULT_TIMEOUT_S, seed: int = 0) -> Report:
    """Check `file` (default: the exercise's starter.py) and return the report."""
    path = validate_file(Path(file) if file is not None else exercise.starter)
    report = Report(exercise, path)
    start: int | None = 0
    while start is not None:
        start = _run_worker(report, start, timeout_s, seed)
    return report


def _run_worker(report: Report, start: int, timeout_s: float, seed: int) -> int | None:
    """One child process running checks from `start` on; returns where to restart, or None."""
    command = [sys.executable, "-m", "auroragpt.exercise_checker.worker",
               str(report.exercise.checks), str(report.file), "--seed", str(seed),
               "--start", str(start)]
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as printed:
        # NOTE: a session of its own, so that processes the learner's code spawns and leaves
        # behind are killed with it (the whole process group), not orphaned.
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=printed,
                                   stdin=subprocess.DEVNULL, text=True, encoding="utf-8",
                                   start_new_session=True)
        events: queue.Queue = queue.Queue()
        threading.Thread(target=_pump, args=(process.stdout, events), daemon=True).start()
        try:
            stage, restart = _follow(report, events, timeout_s)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            code = process.wait()
            printed.seek(0)
            output = printed.read()
    if stage == STARTING:
        # NOTE: the child never listed the checks, so checks.py itself failed to import: the
        # exercise author's bug, and its traceback (in the child's stderr) is the message.
        report.load_error = ("the exercise's checks could not be loaded (a problem with the "
                             f"exercise or the installation, not with your file):\n{output.strip()}")
        return None
    report.output += output
    if stage == LOADING and report.load_error is None:
        report.load_error = f"the check process died (exit code {code}) while importing your file"
    elif isinstance(stage, int) and report.results[stage].status == "NOT RUN":
        report.results[stage].status = "ERROR"
        report.results[stage].message = (
            f"the check process died (exit code {code}) while running your code: a crash, or "
            "running out of memory?")
        restart = stage + 1 if stage + 1 < len(report.results) else None
    return restart


# Stages of a child before its checks run; during a check, the stage is the check's index.
STARTING, LOADING, DONE = "starting", "loading", "done"


def _follow(report: Report, events: queue.Queue, timeout_s: float) -> tuple[object, int | None]:
    """Consume the child's events until it ends or stalls: (last stage, check to restart from).

    Starting up has STARTUP_TIMEOUT_S, every later stage `timeout_s`; a check that exceeds it
    is marked TIMEOUT and the checks after it are run by a fresh child.
    """
    stage: object = STARTING
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        try:
            event = events.get(timeout=max(deadline - time.monotonic(), 0.0))
        except queue.Empty:
            return _timed_out(report, stage, timeout_s)
        if event is None:  # the child closed its stdout: it ended
            return stage, None
        kind = event["event"]
        deadline = time.monotonic() + timeout_s
        if kind == "checks":
            if not report.results:
                report.results = [CheckResult(c["description"], c["hint"]) for c in event["checks"]]
            stage = LOADING
        elif kind == "load_failed":
            report.load_error = event["message"]
            stage = DONE
        elif kind == "loaded":
            stage = DONE
        elif kind == "start":
            stage = event["index"]
        elif kind == "result":
            result = report.results[event["index"]]
            result.status, result.message = event["status"], event["message"]
            stage = DONE


def _timed_out(report: Report, stage: object, timeout_s: float) -> tuple[object, int | None]:
    if stage == STARTING:
        report.load_error = (f"the checks did not start within {STARTUP_TIMEOUT_S:g} s "
                             "(a very busy machine, or a broken installation?)")
    elif stage == LOADING:
        report.load_error = (f"importing your file took longer than {timeout_s:g} s: is there "
                             "a loop or heavy work at the top level of the file?")
    elif isinstance(stage, int):
        result = report.results[stage]
        result.status = "TIMEOUT"
        result.message = (f"still running after {timeout_s:g} s: an infinite loop, or far more "
                          "work than the inputs need? (--timeout raises the limit)")
        return DONE, stage + 1 if stage + 1 < len(report.results) else None
    return DONE, None


def _pump(stream, events: queue.Queue) -> None:
    """Forward the child's JSON lines to `events`; None marks the end of the stream."""
    for line in stream:
        line = line.strip()
        if line.startswith("{"):
            events.put(json.loads(line))
    events.put(None)
