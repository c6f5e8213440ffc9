"""The watchdog turns a stuck process into a fast exit with the stuck function on record.

Hangs run in child processes (the watchdog ends its process); the subprocess timeout is the
"it did not hang" bound and is many times the watchdog's limit.
"""

import json
import textwrap
import threading

from multiprocess_helpers import PYTHON, child_env, run

from auroragpt.distributed.watchdog import WATCHDOG_EXIT_CODE, Watchdog, format_all_stacks


def run_script(tmp_path, body: str):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    return run([PYTHON, str(script)], env=child_env(), cwd=tmp_path, timeout=120)


def test_a_stuck_step_dumps_stacks_calls_back_and_exits(tmp_path):
    result = run_script(tmp_path, """
        import json, threading
        from auroragpt.distributed import Watchdog

        def record(event):
            with open("timeout.json", "w") as f:
                json.dump({"step": event.last_step, "limit": event.limit_s}, f)

        def stuck_in_data_loader():
            threading.Event().wait()  # never set: stuck for good

        with Watchdog(timeout_s=0.5, on_timeout=record) as watchdog:
            for step in range(3):
                watchdog.beat(step)
            stuck_in_data_loader()
    """)
    assert result.returncode == WATCHDOG_EXIT_CODE
    assert "no progress for" in result.stderr and "after step 2" in result.stderr
    assert "Thread MainThread" in result.stderr
    assert "in stuck_in_data_loader" in result.stderr
    assert json.loads((tmp_path / "timeout.json").read_text()) == {"step": 2, "limit": 0.5}


def test_regular_beats_keep_a_slow_loop_alive(tmp_path):
    result = run_script(tmp_path, """
        import threading, time
        from auroragpt.distributed import Watchdog

        with Watchdog(timeout_s=2.0) as watchdog:
            for step in range(40):   # 40 steps of 0.1 s: twice the limit in total, never per step
                time.sleep(0.1)      # the step's work
                watchdog.beat(step)
        # stopped: the monitor thread has been joined, so nothing can fire after the block
        assert "auroragpt-watchdog" not in [t.name for t in threading.enumerate()]
        print("done")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"


def test_startup_limit_covers_a_slow_first_step(tmp_path):
    result = run_script(tmp_path, """
        import time
        from auroragpt.distributed import Watchdog

        with Watchdog(timeout_s=0.5, startup_timeout_s=30) as watchdog:
            time.sleep(2)    # the work before step 0 (compile, data preparation)
            watchdog.beat(0)
        print("done")
    """)
    assert result.returncode == 0, result.stderr


def test_frozen_interpreter_is_caught_by_the_c_level_backstop(tmp_path):
    # A regular expression with catastrophic backtracking runs in C without releasing the GIL,
    # so the Python monitor thread cannot run; faulthandler's timer still fires.
    result = run_script(tmp_path, """
        import re
        from auroragpt.distributed import Watchdog

        def stuck_in_regex():
            re.match(r"(a+)+$", "a" * 64 + "b")

        with Watchdog(timeout_s=0.5, grace_s=1.0) as watchdog:
            watchdog.beat(0)
            stuck_in_regex()
    """)
    assert result.returncode != 0
    assert "Timeout" in result.stderr and "stuck_in_regex" in result.stderr


def test_disabled_watchdog_starts_no_thread():
    before = threading.active_count()
    with Watchdog(timeout_s=0) as watchdog:
        watchdog.beat(1)
        assert not watchdog.enabled
        assert threading.active_count() == before


def test_format_all_stacks_names_threads_and_functions():
    release = threading.Event()

    def parked_worker():
        release.wait()

    thread = threading.Thread(target=parked_worker, name="loader-3")
    thread.start()
    try:
        text = format_all_stacks()
    finally:
        release.set()
        thread.join()
    assert "Thread loader-3" in text
    assert "in parked_worker" in text
