"""A slot-by-slot model of pipeline schedules, for teaching and checking: no torch, no ranks.

Each of p stages runs its own list of forwards (F) and backwards (B), in the order GPipe or
1F1B gives it; an operation starts when its stage is free and its input exists (the forward
of the same micro-batch on the stage before, the backward on the stage after, and for a
backward the stage's own forward). With fixed costs per operation this yields the timeline
torch's `ScheduleGPipe` / `Schedule1F1B` follow when computation dominates (notebook 07
measures the real ones), hence the bubble and the micro-batches each stage holds at once.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEDULES = ("gpipe", "1f1b")


@dataclass(frozen=True)
class Slot:
    stage: int
    kind: str  # "F" or "B"
    micro_batch: int
    start: float
    end: float


def stage_order(stage: int, stages: int, micro_batches: int, schedule: str) -> list[tuple[str, int]]:
    """The (kind, micro-batch) operations stage `stage` runs, in order.

    1F1B (PipeDream-Flush): stages - stage - 1 warm-up forwards, then one forward and one
    backward in turn, then the remaining backwards.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}: expected one of {', '.join(SCHEDULES)}")
    if schedule == "gpipe":
        return [("F", i) for i in range(micro_batches)] + [("B", i) for i in range(micro_batches)]
    warm = min(stages - stage - 1, micro_batches)
    order = [("F", i) for i in range(warm)]
    for i in range(micro_batches - warm):
        order += [("F", warm + i), ("B", i)]
    return order + [("B", i) for i in range(micro_batches - warm, micro_batches)]


def simulate(stages: int, micro_batches: int, schedule: str, forward: float = 1.0,
             backward: float = 2.0) -> list[Slot]:
    """Every operation of one step with its start and end times."""
    if stages < 1 or micro_batches < 1:
        raise ValueError(f"stages={stages} and micro_batches={micro_batches} must be >= 1")
    orders = [stage_order(s, stages, micro_batches, schedule) for s in range(stages)]
    done: dict[tuple[str, int, int], float] = {}
    position, clock = [0] * stages, [0.0] * stages
    slots = []
    while any(position[s] < len(orders[s]) for s in range(stages)):
        progressed = False
        for s in range(stages):
            if position[s] == len(orders[s]):
                continue
            kind, i = orders[s][position[s]]
            if kind == "F":
                needs = [("F", s - 1, i)] if s > 0 else []
            else:
                needs = [("F", s, i)] + ([("B", s + 1, i)] if s < stages - 1 else [])
            if all(n in done for n in needs):
                start = max([clock[s], *(done[n] for n in needs)])
                clock[s] = done[(kind, s, i)] = start + (forward if kind == "F" else backward)
                slots.append(Slot(s, kind, i, start, clock[s]))
                position[s] += 1
                progressed = True
        if not progressed:  # cannot happen for these two schedules; a guard for new ones
            raise RuntimeError(f"{schedule} deadlocked with {stages} stages")
    return slots


def bubble(slots: list[Slot]) -> float:
    """Idle share of the step, the same on every stage: 1 - busy time / step time."""
    stages = {slot.stage for slot in slots}
    busy = sum(slot.end - slot.start for slot in slots) / len(stages)
    return 1 - busy / max(slot.end for slot in slots)


def held(slots: list[Slot], stage: int) -> int:
    """The most micro-batches whose forward has run on `stage` and whose backward has not."""
    count = peak = 0
    for slot in sorted((s for s in slots if s.stage == stage), key=lambda s: s.start):
        count += 1 if slot.kind == "F" else -1
        peak = max(peak, count)
    return peak
