"""Straggler detection against medians worked out by hand; multi-rank runs are in
test_multiprocess.py."""

import pytest

from auroragpt.distributed import Straggler, StragglerMonitor, find_stragglers


def test_find_stragglers_against_the_median():
    times = [0.10, 0.11, 0.35, 0.10, 0.13, 0.26]  # sorted: .10 .10 .11 .13 .26 .35 -> median .12
    hosts = [f"x41{r:02d}" for r in range(6)]
    slow = find_stragglers(times, hosts, threshold=0.5, step=100)
    assert [(s.rank, s.host) for s in slow] == [(2, "x4102"), (5, "x4105")]  # slowest first
    assert slow[0].median_s == pytest.approx(0.12)
    assert slow[0].slowdown == pytest.approx(0.35 / 0.12 - 1)
    assert "rank 2 on x4102" in str(slow[0]) and "step 100" in str(slow[0])


def test_threshold_is_strict_and_uniform_ranks_are_fine():
    assert find_stragglers([1.0, 1.0, 1.5], ["a", "b", "c"], threshold=0.5) == []
    assert [s.rank for s in find_stragglers([1.0, 1.0, 1.51], ["a", "b", "c"], 0.5)] == [2]
    assert find_stragglers([0.2] * 12, ["h"] * 12, threshold=0.0) == []
    assert find_stragglers([], [], 0.1) == []
    with pytest.raises(ValueError, match="3 step times but 2 hosts"):
        find_stragglers([1, 2, 3], ["a", "b"], 0.1)


def test_monitor_without_a_process_group_never_reports(clean_environ):
    monitor = StragglerMonitor(every_n=3, threshold=0.1)
    reports = [monitor.record(step, t) for step, t in enumerate([9.0, 1.0, 2.0, 6.0], start=1)]
    assert reports == [[], [], [], []]
    assert monitor.last_step_times == [pytest.approx((9.0 + 1.0 + 2.0) / 3)]


@pytest.mark.parametrize("kwargs, message", [
    ({"every_n": 0}, "every_n=0"), ({"threshold": -0.1}, "threshold=-0.1"),
])
def test_monitor_validates(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StragglerMonitor(**kwargs)


def test_straggler_slowdown():
    assert Straggler(3, "h", step_time_s=0.3, median_s=0.2, step=1).slowdown == pytest.approx(0.5)
