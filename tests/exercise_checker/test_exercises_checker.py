"""The checker itself, on a small synthetic exercise: how it refuses bad files, survives a
learner's infinite loop, exit() or crash, and reports without showing its own traceback."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from auroragpt.cli import main
from auroragpt.exercise_checker import ExerciseError, discover, exercises_root, find_exercise

CHECKS = '''
import math

from auroragpt.exercise_checker.checking import CheckFailed, check, expect_close

FORBIDDEN = {"math.fsum": "write the sum yourself"}


@check("add(a, b) matches a + b", hint="think of the plus sign")
def adds(ctx):
    add = ctx.function("add")
    for a, b in [(2.0, 3.5), (-1.0, 1e-3)]:
        expect_close(add(a, b), a + b, f"add({a}, {b})")


@check("total(xs) matches math.fsum", hint="a loop and an accumulator")
def totals(ctx):
    total = ctx.function("total")
    xs = [0.1 * i for i in range(10)]
    if total(xs) is None:
        raise CheckFailed("total returned None")
    expect_close(total(xs), math.fsum(xs), "total of ten numbers")
'''

GOOD = '''
def add(a, b):
    return a + b


def total(xs):
    s = 0.0
    for x in xs:
        s += x
    return s
'''


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "exercises" / "07-sums"
    folder.mkdir(parents=True)
    (folder / "checks.py").write_text(CHECKS)
    (folder / "starter.py").write_text(
        'def add(a, b):\n    raise NotImplementedError("TODO: add")\n\n\n'
        'def total(xs):\n    raise NotImplementedError("TODO: total")\n')
    (folder / "README.md").write_text("# Sums\n")
    return tmp_path / "exercises"


def check(capsys, root: Path, source: str | None, *extra: str, tmp_name: str = "mine.py"):
    """Run `auroragpt exercises check 07` on `source` (None: the starter); (code, output)."""
    args = ["exercises", "check", "07", "--dir", str(root), *extra]
    if source is not None:
        path = root.parent / tmp_name
        path.write_text(textwrap.dedent(source))
        args += ["--file", str(path)]
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_correct_file_passes(root, capsys):
    code, output = check(capsys, root, GOOD)
    assert code == 0, output
    assert output.count("  PASS ") == 2
    assert "all 2 checks pass" in output


def test_starter_reports_todos_with_function_and_line(root, capsys):
    code, output = check(capsys, root, None)
    assert code == 1
    assert "TODO: not implemented yet: add (starter.py line 2)" in output
    assert "TODO: not implemented yet: total (starter.py line 6)" in output
    assert "hint:" not in output  # hints are for wrong answers, not for missing ones
    assert "Traceback" not in output


def test_wrong_answer_fails_with_message_and_hint(root, capsys):
    code, output = check(capsys, root, GOOD.replace("return a + b", "return a - b"))
    assert code == 1
    assert "  FAIL    add(a, b) matches a + b" in output
    assert "add(2.0, 3.5): off by up to 7" in output
    assert "hint: think of the plus sign" in output
    assert "  PASS    total(xs)" in output


def test_missing_file_is_refused(root, capsys, tmp_path):
    code = main(["exercises", "check", "07", "--dir", str(root),
                 "--file", str(tmp_path / "nowhere.py")])
    output = capsys.readouterr()
    assert code == 2
    assert "nowhere.py: no such file" in output.err
    assert "Traceback" not in output.out + output.err


def test_syntax_error_is_refused_with_the_line(root, capsys):
    code, output = check(capsys, root, "def add(a, b):\n    return a +\n")
    assert code == 2
    assert "syntax error on line 2" in output
    assert "return a +" in output and "^" in output
    assert "Traceback" not in output


def test_infinite_loop_costs_one_check(root, capsys):
    looping = GOOD.replace("return a + b", "while True:\n        pass")
    code, output = check(capsys, root, looping, "--timeout", "1")
    assert code == 1
    assert "  TIMEOUT add(a, b)" in output
    assert "still running after 1 s" in output
    assert "  PASS    total(xs)" in output  # a fresh process ran the check after the timeout


def test_hanging_import_is_reported(root, capsys):
    code, output = check(capsys, root, "while True:\n    pass\n" + GOOD, "--timeout", "1")
    assert code == 1
    assert "importing your file took longer than 1 s" in output


def test_exit_and_hard_crash_are_reported_per_check(root, capsys):
    source = GOOD.replace("return a + b", "import sys\n    sys.exit(3)").replace(
        "    s = 0.0", "    import os\n    os._exit(7)")
    code, output = check(capsys, root, source)
    assert code == 1
    assert "your code called exit()" in output
    assert "the check process died (exit code 7)" in output


@pytest.mark.timeout(60)  # a hang guard: the learner's thread would hold the checker 300 s
def test_thread_left_running_does_not_hold_the_checker(root, capsys):
    source = "import threading, time\nthreading.Thread(target=time.sleep, args=(3600,)).start()\n"
    code, output = check(capsys, root, source + GOOD, "--timeout", "300")
    assert code == 0, output


def test_learner_exception_shows_only_the_learners_lines(root, capsys):
    source = '''
    def helper(a):
        return a["key"]


    def add(a, b):
        return helper(a) + b


    def total(xs):
        return sum(xs)
    '''
    code, output = check(capsys, root, source)
    assert code == 1
    assert "  ERROR   add(a, b)" in output
    assert "your code raised TypeError" in output
    assert "mine.py:7 in add: return helper(a) + b" in output
    assert "mine.py:3 in helper" in output
    assert "Traceback" not in output and "worker.py" not in output


def test_forbidden_function_is_refused_only_for_the_learner(root, capsys):
    source = GOOD.replace("    s = 0.0\n    for x in xs:\n        s += x\n    return s",
                          "    import math\n    return math.fsum(xs)")
    code, output = check(capsys, root, source)
    assert code == 1
    assert "`math.fsum` is off limits in this exercise: write the sum yourself" in output
    # the check itself called math.fsum for its reference, and the other check passed
    assert "  PASS    add(a, b)" in output


def test_renamed_function_and_none_result(root, capsys):
    source = GOOD.replace("def add(", "def plus(").replace("return s", "s")
    code, output = check(capsys, root, source)
    assert code == 1
    assert "defines no `add`: keep the starter's function names" in output
    assert "total returned None" in output


def test_import_error_in_learner_file(root, capsys):
    code, output = check(capsys, root, "import not_a_module_anywhere\n" + GOOD)
    assert code == 1
    assert "could not run the checks" in output
    assert "ModuleNotFoundError: No module named 'not_a_module_anywhere'" in output
    assert "mine.py:1 in <module>" in output
    assert "Traceback" not in output


def test_learner_prints_are_shown_after_the_results(root, capsys):
    code, output = check(capsys, root, GOOD.replace("return a + b",
                                                    "print('debugging', a)\n    return a + b"))
    assert code == 0
    assert "what your code printed" in output and "| debugging 2.0" in output


def test_broken_checks_are_blamed_on_the_exercise(root, capsys):
    (root / "07-sums" / "checks.py").write_text("import not_a_module_anywhere\n")
    code, output = check(capsys, root, GOOD)
    assert code == 1
    assert "the exercise's checks could not be loaded" in output
    assert "not with your file" in output


def test_lookup_by_number_or_name(root):
    assert find_exercise("07", root).name == "07-sums"
    assert find_exercise("7", root).name == "07-sums"
    assert find_exercise("07-sums/", root).name == "07-sums"
    with pytest.raises(ExerciseError, match="no exercise '08'.*available: 07-sums"):
        find_exercise("08", root)


def test_unknown_exercise_exit_code(root, capsys):
    assert main(["exercises", "check", "99", "--dir", str(root)]) == 2
    assert "no exercise '99'" in capsys.readouterr().err


def test_duplicate_numbers_are_refused(root):
    twin = root / "07-other"
    twin.mkdir()
    (twin / "checks.py").write_text("")
    with pytest.raises(ExerciseError, match="unique"):
        discover(root)


def test_exercises_root_resolution(root, monkeypatch, tmp_path):
    monkeypatch.setenv("AURORAGPT_EXERCISES", str(root))
    assert exercises_root() == root
    monkeypatch.delenv("AURORAGPT_EXERCISES")
    monkeypatch.chdir(root.parent)
    assert exercises_root().resolve() == root.resolve()
    with pytest.raises(ExerciseError, match="--dir"):
        exercises_root(tmp_path / "missing")


def test_list_shows_titles(root, capsys):
    assert main(["exercises", "list", "--dir", str(root)]) == 0
    assert "07-sums  Sums" in capsys.readouterr().out
