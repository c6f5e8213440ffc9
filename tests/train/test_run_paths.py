"""Paths in a run's config are saved absolute, and a resume that would read other data refuses."""

from __future__ import annotations

import pytest

from auroragpt.config import ConfigError, load_config, save_config
from auroragpt.train.run import absolute_paths, check_resumable, resolve_config


def test_relative_paths_are_resolved_against_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = resolve_config(preset="debug", overrides=["data.file_list=lists/a.txt",
                                                    "data.tokenizer=tok/sp.model"])
    assert cfg.data.file_list == str(tmp_path / "lists" / "a.txt")
    assert cfg.data.tokenizer == str(tmp_path / "tok" / "sp.model")
    assert cfg.data.cache_dir == str(tmp_path / ".cache" / "auroragpt")


def test_saved_relative_paths_read_against_the_run_directory(tmp_path, monkeypatch):
    """An older run's config.yaml with a relative path, resumed from anywhere."""
    run = tmp_path / "runs" / "old"
    run.mkdir(parents=True)
    cfg = resolve_config(preset="debug")
    cfg.data.file_list = "data/list.txt"
    save_config(cfg, run / "config.yaml")
    monkeypatch.chdir(tmp_path)
    resumed = resolve_config(run_dir=run, resume=True)
    assert resumed.data.file_list == str(run / "data" / "list.txt")


def test_resume_reading_other_data_is_refused(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints" / "global_step2").mkdir(parents=True)
    saved = absolute_paths(resolve_config(preset="debug",
                                          overrides=[f"data.file_list={tmp_path}/a.txt"]),
                           tmp_path)
    save_config(saved, run / "config.yaml")
    other = load_config(run / "config.yaml")
    other.data.file_list = str(tmp_path / "elsewhere" / "a.txt")
    with pytest.raises(ConfigError, match=r"different training data \(data.file_list: "):
        check_resumable(run, other)
    same = load_config(run / "config.yaml")
    same.data.num_workers = 2  # how the data is read may change
    assert check_resumable(run, same) == (True, ["data.num_workers"])
