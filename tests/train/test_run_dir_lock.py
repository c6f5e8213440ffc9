"""One writer per run directory (`RUN_DIR/.lock`), stale locks taken over, and runs that stop
cleanly with a checkpoint on SIGTERM, SIGINT or `train.max_time`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from auroragpt.checkpoint import list_checkpoints, load_checkpoint
from auroragpt.train import RunDirError, train
from auroragpt.train.lock import LOCK_FILE, RunDirLock, RunDirLockedError


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_second_writer_is_refused_naming_the_holder(tmp_path, make_config, debug_data):
    run = tmp_path / "run"
    with RunDirLock(run):
        with pytest.raises(RunDirError, match=rf"process {os.getpid()} on {socket.gethostname()}"):
            train(make_config("train.max_steps=1"), run, progress=False, data=debug_data)
    assert not list_checkpoints(run)
    train(make_config("train.max_steps=1"), run, progress=False, data=debug_data)  # free again
    assert not (run / LOCK_FILE).exists()


def test_lock_of_a_dead_process_on_this_host_is_taken_over(tmp_path):
    tmp_path.joinpath(LOCK_FILE).write_text(f"{socket.gethostname()} {_dead_pid()} 0\n")
    with RunDirLock(tmp_path) as lock:
        assert (tmp_path / LOCK_FILE).read_text() == lock.identity
    assert not (tmp_path / LOCK_FILE).exists()


def test_lock_from_another_host_is_stale_only_after_its_heartbeat_stops(tmp_path):
    lock_file = tmp_path / LOCK_FILE
    lock_file.write_text("some-other-node 4242 0\n")
    with pytest.raises(RunDirLockedError, match="process 4242 on some-other-node"):
        RunDirLock(tmp_path, stale_after_s=60).acquire()
    old = time.time() - 120
    os.utime(lock_file, (old, old))  # its heartbeat stopped two minutes ago
    with RunDirLock(tmp_path, stale_after_s=60) as lock:
        assert lock_file.read_text() == lock.identity


def test_heartbeat_keeps_the_lock_fresh(tmp_path):
    with RunDirLock(tmp_path, heartbeat_s=0.05):
        old = time.time() - 1000
        os.utime(tmp_path / LOCK_FILE, (old, old))
        deadline = time.time() + 10
        while (tmp_path / LOCK_FILE).stat().st_mtime < time.time() - 100:
            assert time.time() < deadline, "no heartbeat"
            time.sleep(0.05)


def test_max_time_stops_with_a_checkpoint_and_resume_continues(tmp_path, make_config,
                                                               debug_data):
    cfg = make_config("train.max_steps=4", "train.eval_every=0", "train.save_every=0",
                      "train.max_time=0.001")
    summary = train(cfg, tmp_path / "run", progress=False, data=debug_data)
    assert summary.last_step == 1 and "train.max_time" in summary.stopped_by
    assert [c.step for c in list_checkpoints(tmp_path / "run")] == [1]
    assert "continue with --resume" in str(summary)
    resumed = train(make_config("train.max_steps=4", "train.eval_every=0"), tmp_path / "run",
                    resume=True, progress=False, data=debug_data)
    assert (resumed.first_step, resumed.last_step, resumed.stopped_by) == (1, 4, None)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_at_the_next_step_and_exits_cleanly(tmp_path, data_cache, debug_data,
                                                         signum):
    run = tmp_path / "run"
    args = [sys.executable, "-m", "auroragpt.cli", "train", "--preset", "debug", "--run-dir",
            str(run), "--no-progress", f"data.cache_dir={data_cache}", "train.max_steps=24",
            "train.save_every=0", "train.eval_every=0", "train.sample_every=0",
            "train.log_every=1", "train.cpu_threads=1"]
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (run / "metrics.jsonl").is_file() or not (run / "metrics.jsonl").read_text():
        assert child.poll() is None and time.time() < deadline, child.communicate()
        time.sleep(0.05)
    child.send_signal(signum)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err[-3000:]
    name = signal.Signals(signum).name
    assert f"stopped by {name} after step" in out
    [ckpt] = list_checkpoints(run)
    assert 1 <= ckpt.step < 24
    assert load_checkpoint(ckpt.path).trainer_state["step"] == ckpt.step
    assert not (run / LOCK_FILE).exists()
