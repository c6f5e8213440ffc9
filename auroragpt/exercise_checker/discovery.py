"""Finding the exercises folder and the exercises in it.

An exercise is a folder `NN-topic/` (two digits, a dash, a lowercase topic) holding a task text
`README.md`, a `starter.py` with TODOs and a `checks.py`. Reference solutions live apart, in
`solutions/NN-topic.py`, so an instructor can hand out the folder without them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

ROOT_ENV = "AURORAGPT_EXERCISES"  # points at an exercises folder anywhere on disk
FOLDER_PATTERN = re.compile(r"^(?P<number>\d\d)-[a-z0-9][a-z0-9-]*$")


class ExerciseError(Exception):
    """The request cannot be checked (no such exercise, no such file, a syntax error)."""


@dataclass(frozen=True)
class Exercise:
    """One exercise folder; the paths below are where its parts live, present or not."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def number(self) -> str:
        return self.name[:2]

    @property
    def readme(self) -> Path:
        return self.path / "README.md"

    @property
    def starter(self) -> Path:
        return self.path / "starter.py"

    @property
    def checks(self) -> Path:
        return self.path / "checks.py"

    @property
    def solution(self) -> Path:
        return self.path.parent / "solutions" / f"{self.name}.py"

    @property
    def title(self) -> str:
        """The task text's first heading, or the topic from the folder name."""
        if self.readme.is_file():
            for line in self.readme.read_text(encoding="utf-8").splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
        return self.name[3:].replace("-", " ")


def exercises_root(explicit: str | Path | None = None) -> Path:
    """The exercises folder: `explicit`, else $AURORAGPT_EXERCISES, else ./exercises, else the
    one in the source checkout this package was installed from (editable installs)."""
    if explicit is not None:
        candidates = [(Path(explicit), "--dir")]
    elif os.environ.get(ROOT_ENV):
        candidates = [(Path(os.environ[ROOT_ENV]), f"${ROOT_ENV}")]
    else:
        checkout = Path(__file__).resolve().parents[2] / "exercises"
        candidates = [(Path.cwd() / "exercises", "./exercises"), (checkout, "the checkout")]
    for path, _ in candidates:
        if path.is_dir():
            return path
    tried = ", ".join(f"{path} ({source})" for path, source in candidates)
    raise ExerciseError(
        f"no exercises folder found (tried {tried}); run from the folder that contains "
        f"exercises/, or pass --dir PATH or set {ROOT_ENV}"
    )


def discover(root: Path) -> list[Exercise]:
    """Every exercise folder under `root` that has checks, by number."""
    found = [Exercise(p) for p in sorted(root.iterdir())
             if p.is_dir() and FOLDER_PATTERN.match(p.name) and (p / "checks.py").is_file()]
    numbers = [e.number for e in found]
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicates:
        raise ExerciseError(f"{root}: exercise numbers must be unique, found several {duplicates}")
    return found


def find_exercise(key: str, root: Path) -> Exercise:
    """The exercise named by its number (`4`, `04`) or its folder name (`04-training-loop`)."""
    exercises = discover(root)
    key = key.strip().rstrip("/")
    for exercise in exercises:
        if key in (exercise.name, exercise.number) or (key.isdigit() and int(key) == int(exercise.number)):
            return exercise
    known = ", ".join(e.name for e in exercises) or "none"
    raise ExerciseError(f"no exercise {key!r} in {root}; available: {known}")
