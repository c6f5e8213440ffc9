"""The schedule model against the published formulas: GPipe's bubble (p - 1)/(m + p - 1)
(Huang et al. 2019), the same for 1F1B (Narayanan et al. 2021), and the activations held:
m micro-batches for GPipe, p - stage for 1F1B (the planner's `in_flight`, written apart)."""

import pytest

from auroragpt.parallel import schedule_model
from auroragpt.parallel.planner import Layout, in_flight


@pytest.mark.parametrize("schedule", schedule_model.SCHEDULES)
@pytest.mark.parametrize("stages,micro", [(1, 3), (2, 1), (2, 4), (4, 4), (4, 9), (8, 16)])
def test_bubble_is_the_formula(schedule, stages, micro):
    slots = schedule_model.simulate(stages, micro, schedule, forward=1.0, backward=2.0)
    assert max(s.end for s in slots) == pytest.approx((micro + stages - 1) * 3.0)
    assert schedule_model.bubble(slots) == pytest.approx((stages - 1) / (micro + stages - 1))


@pytest.mark.parametrize("stages,micro", [(2, 4), (4, 8), (8, 8)])
def test_activations_held_match_the_planner(stages, micro):
    for schedule in schedule_model.SCHEDULES:
        slots = schedule_model.simulate(stages, micro, schedule)
        layout = Layout(world=stages, pp=stages, pp_schedule=schedule)
        for stage in range(stages):
            assert schedule_model.held(slots, stage) == in_flight(layout, stage, micro)


def test_every_operation_runs_once_and_bad_input_is_refused():
    slots = schedule_model.simulate(3, 5, "1f1b")
    assert sorted((s.stage, s.kind, s.micro_batch) for s in slots) == sorted(
        (st, k, i) for st in range(3) for k in "FB" for i in range(5))
    with pytest.raises(ValueError, match="unknown schedule"):
        schedule_model.simulate(2, 2, "zigzag")
    with pytest.raises(ValueError, match="micro_batches=0"):
        schedule_model.simulate(2, 0, "gpipe")
