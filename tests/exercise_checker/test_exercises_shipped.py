"""The shipped exercises: every reference solution passes its checks, every untouched starter
fails them with a TODO message (never a traceback), and the layout is what instructors hand out.

These run the real checks through the real CLI, each in its child process, so they also prove
the checks run against their references (torch, megatron-core, auroragpt) on this machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from auroragpt.cli import main
from auroragpt.exercise_checker import discover

ROOT = Path(__file__).resolve().parents[2] / "exercises"
EXERCISES = discover(ROOT)
PART1_CHAPTERS = {"00", "01", "02", "03", "04", "05", "10"}


def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = main(["exercises", *args, "--dir", str(ROOT)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_every_chapter_of_part1_has_an_exercise():
    assert {e.number for e in EXERCISES} >= PART1_CHAPTERS


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_layout(exercise):
    readme = exercise.readme.read_text(encoding="utf-8")
    for section in ("## Goal", "## Background", "## What to implement", "## How to check",
                    "## Hints"):
        assert section in readme, f"{exercise.readme}: missing {section!r}"
    assert f"auroragpt exercises check {exercise.number}" in readme
    starter = exercise.starter.read_text(encoding="utf-8")
    assert "TODO" in starter and "raise NotImplementedError" in starter
    assert exercise.solution.is_file(), f"no reference solution {exercise.solution}"
    assert "NotImplementedError" not in exercise.solution.read_text(encoding="utf-8")


def test_solutions_match_exercises_one_to_one():
    solutions = {p.stem for p in (ROOT / "solutions").glob("*.py")}
    assert solutions == {e.name for e in EXERCISES}


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_reference_solution_passes(exercise, capsys):
    code, output = run_cli(capsys, "check", exercise.number, "--file", str(exercise.solution))
    assert code == 0, output
    assert "all" in output and "checks pass" in output
    assert "FAIL" not in output and "TODO" not in output


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_untouched_starter_fails_with_todo_messages(exercise, capsys):
    code, output = run_cli(capsys, "check", exercise.name)  # --file defaults to starter.py
    assert code == 1, output
    assert "Traceback" not in output
    assert "PASS" not in output
    results = [line for line in output.splitlines() if line.startswith("  TODO ")]
    assert results, output
    assert output.count("TODO: not implemented yet: ") == len(results)
    assert "fill in the TODOs" in output


def test_console_command_exit_codes():
    """The acceptance contract, through the installed module entry point."""
    exercise = next(e for e in EXERCISES if e.number == "05")  # the quickest to check
    command = [sys.executable, "-m", "auroragpt.cli", "exercises", "check", "05"]
    passed = subprocess.run([*command, "--file", str(exercise.solution)], capture_output=True,
                            text=True, timeout=300)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    failed = subprocess.run([*command, "--file", str(exercise.starter)], capture_output=True,
                            text=True, timeout=300)
    assert failed.returncode == 1
    assert "TODO: not implemented yet: blending_indices" in failed.stdout
