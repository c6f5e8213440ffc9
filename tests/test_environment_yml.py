"""environment.yml parses, uses conda-forge only, installs the checkout, and lists every
dependency of pyproject.toml's core and notebook sets with the same version bounds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).parents[1]
CONDA_NAMES = {"torch": "pytorch"}  # pip name -> conda-forge name where they differ


def _split(requirement: str) -> tuple[str, str]:
    """'numpy>=1.24' -> ('numpy', '>=1.24'); names lower-cased, '_' as '-'."""
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*", requirement)
    assert match, requirement
    return match.group(1).lower().replace("_", "-"), match.group(2).replace(" ", "")


def test_environment_yml_covers_core_and_notebooks():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert env["name"] == "auroragpt"
    assert env["channels"] == ["conda-forge"]

    conda = dict(_split(d) for d in env["dependencies"] if isinstance(d, str))
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert pip == ["--editable .[notebooks,hf]"]  # the checkout itself, with the course extras

    python = conda.pop("python")
    assert project["requires-python"] in python  # e.g. '>=3.10' in '>=3.10,<3.13'
    wanted = project["dependencies"] + project["optional-dependencies"]["notebooks"]
    for requirement in wanted:
        name, bounds = _split(requirement)
        name = CONDA_NAMES.get(name, name)
        assert name in conda, f"environment.yml lacks {name} (pyproject: {requirement})"
        assert conda[name] == bounds, f"environment.yml: {name}{conda[name]} != {requirement}"
