"""The checks catch real mistakes: each reference solution, with typical mistakes written into
it, fails the checks that concern them and passes the others, with a message naming the
mistake. (A check that passed everything would pass the solution tests too; these would fail.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from auroragpt.cli import main
from auroragpt.exercise_checker import find_exercise

ROOT = Path(__file__).resolve().parents[2] / "exercises"

# exercise -> (edits to its reference solution, fragments the report must contain). One
# mutated file per exercise, so every check is exercised by one run.
MISTAKES = {
    "00": ([('if names[0] in env:', 'if names[0] in env and names[0] != "RANK":'),
            ('return f"{kind}:{local_rank % count}"', 'return f"{kind}:{local_rank}"'),
            ('"xpu": "xccl"', '"xpu": "ccl"')],
           ["torchrun", "you returned a single process", "you returned 'xpu:12'",
            "for device 'xpu:0' you returned 'ccl'"]),
    "01": ([('n_bytes = sum(len(text.encode("utf-8"))', 'n_bytes = sum(len(text)'),
            ("BYTE_PIECE.fullmatch(", "BYTE_PIECE.match("),
            ("bytes_per_token(tokenizer, test_texts)", "bytes_per_token(tokenizer, train_texts)")],
           ["you counted characters, not UTF-8 bytes", "measured on the training texts"]),
    "02": ([('scores = scores.masked_fill(future, float("-inf"))', "scores = scores"),
            ("t.view(B, T, n_heads, hd).transpose(1, 2)", "t.reshape(B, n_heads, T, hd)")],
           ["the future is not masked", "changing keys and values from position 1 on changed",
            "output for B=2 T=7 C=12 n_heads=3: off by up to"]),
    "03": ([("x * torch.rsqrt(mean_square + eps)", "x / (mean_square.sqrt() + eps)"),
            ("a * cos - b * sin, a * sin + b * cos", "a * cos + b * sin, -a * sin + b * cos")],
           ["eps is added after the square root", "the rotation goes the wrong way"]),
    "04": ([("(loss / n_micro).backward()", "loss.backward()"),
            ("+ cfg.vocab_size * d  # + output", "")],
           ["the update is 2x too large", "the output projection is left out",
            "make flops_per_token pass first"]),
    "05": ([("behind = w * max(i, 1) - taken", "behind = w * i - taken"),
            ('side="right"', 'side="left"')],
           ["dataset_index (2 datasets, 1 sample): 1 of 1 entries differ",
            "rows differ, the first is row", "read through your index holds stream positions"]),
    "07": ([("w2.chunk(world, dim=1)[rank]", "w2.chunk(world, dim=0)[rank]"),
            ("        dist.all_reduce(partial)     # sum of the partial sums\n",
             "        dist.all_reduce(partial)     # sum of the partial sums\n"
             "        partial /= dist.get_world_size()\n"),
            ("return (stages - 1) / (micro_batches + stages - 1)",
             "return (stages - 1) / micro_batches")],
           ["your shard has shape [4, 12]", "the partial sums must be added, not averaged",
            "is idle time relative to the busy time"]),
    "08": ([("return (S + S) + (2 * S + S)  # silu(gate); silu * up", "return 3 * S"),
            ("return 2 * m * n * k, ", "return m * n * k, "),
            ("return max(flops / peak_flops, nbytes / bandwidth)",
             "return flops / peak_flops + nbytes / bandwidth")],
           ["eager SwiGLU", "you count 3.00 S", "FLOPs of", "off by a factor 0.50",
            "more than the roofline allows"]),
    "10": ([("logprobs[mask].sum() / mask.sum()", "logprobs.mean()"),
            ("torch.log_softmax(logits, dim=-1)", "torch.softmax(logits, dim=-1).log()")],
           ["padded positions are counted", "NaN or inf values"]),
}


@pytest.mark.parametrize("number", sorted(MISTAKES))
def test_typical_mistakes_are_caught_and_named(number, tmp_path, capsys):
    exercise = find_exercise(number, ROOT)
    source = exercise.solution.read_text(encoding="utf-8")
    edits, fragments = MISTAKES[number]
    for old, new in edits:
        assert old in source, f"{exercise.solution}: the mutation target {old!r} is gone"
        source = source.replace(old, new)
    mutant = tmp_path / f"{exercise.name}-mutant.py"
    mutant.write_text(source, encoding="utf-8")

    code = main(["exercises", "check", number, "--dir", str(ROOT), "--file", str(mutant)])
    output = capsys.readouterr().out
    assert code == 1, output
    assert "Traceback" not in output and "TODO" not in output
    for fragment in fragments:
        assert fragment in output, f"{fragment!r} not in:\n{output}"


def test_processes_the_learners_code_leaves_behind_are_killed(tmp_path):
    """A learner's file that starts a long-lived child (a stray DataLoader worker, a server)
    must not leave it running once the checks are done."""
    import os
    import time

    pid_file = tmp_path / "child.pid"
    learner = tmp_path / "spawns.py"
    learner.write_text(
        (ROOT / "00-devices" / "starter.py").read_text()
        + "\nimport subprocess, sys\n"
        + "_child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        + f"open({str(pid_file)!r}, 'w').write(str(_child.pid))\n")
    from auroragpt.exercise_checker.runner import run_checks

    run_checks(find_exercise("00", ROOT), learner)
    pid = int(pid_file.read_text())
    deadline = time.time() + 10
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break  # gone (reaped by init once its parent, the check process, was killed)
        if _is_zombie(pid):
            break
        assert time.time() < deadline, f"process {pid} spawned by the learner's code survived"
        time.sleep(0.1)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (FileNotFoundError, IndexError):
        return False
