"""Probe scoring: a perfect predictor scores 1, a random one ~0, batching changes nothing."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from auroragpt.config import get_preset
from auroragpt.eval.metrics import answer_matches
from auroragpt.eval.probes import EXTRA_TOKENS, score_probes
from auroragpt.generation import generate_tokens, prompt_ids
from auroragpt.model import build_model


@dataclass
class Probe:  # the fields of auroragpt.corpora.Probe
    corpus: str
    prompt: str
    answer: str


def _arithmetic_probes(n, seed=0):
    rng = random.Random(seed)
    probes = []
    for _ in range(n):
        a, b = rng.randrange(100), rng.randrange(100)
        probes.append(Probe("arithmetic", f"{a} + {b} =", f" {a + b}"))
    probes += [Probe("chemistry", f"The formula of {name} is", f" {formula}")
               for name, formula in [("water", "H2O"), ("methane", "CH4"), ("ammonia", "NH3")]]
    return probes


@pytest.fixture
def tokenizer(sp_model_path):
    from auroragpt.tokenizer import Tokenizer

    return Tokenizer.load(sp_model_path)


class LookupPredictor(nn.Module):
    """A model's forward interface, answering from a table, or at random.

    Rows it knows get their answer's tokens, then a newline and EOD; unknown rows get random
    non-EOD tokens. Built by hand, so it checks the scoring, not a model. It keeps the rows it
    has seen (the prompt, then one token per cached decoding step) in place of a KV cache.
    """

    def __init__(self, tokenizer, probes, perfect: bool, max_seq_len=64):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # gives the scorer a device and a dtype
        self.config = get_preset("debug").model
        self.config.max_seq_len = max_seq_len
        self.eos, self.vocab = tokenizer.eos_id, tokenizer.vocab_size
        self.table = {tuple(prompt_ids(tokenizer, p.prompt)): tokenizer.encode(p.answer + "\n")
                      for p in probes} if perfect else {}
        self.rng = random.Random(0)
        self.rows: list[list[int]] = []
        self.prompt_len = 0

    def forward(self, tokens, cache=None, positions=None):
        """Logits (B, T, V) whose last position is one-hot on the next token."""
        if positions is None:  # a prompt
            self.rows, self.prompt_len = tokens.tolist(), tokens.shape[1]
        else:
            self.rows = [row + new for row, new in zip(self.rows, tokens.tolist(), strict=True)]
        logits = torch.zeros(tokens.shape[0], tokens.shape[1], self.vocab)
        for b, row in enumerate(self.rows):
            answer = self.table.get(tuple(row[:self.prompt_len]))
            done = len(row) - self.prompt_len
            if answer is None:
                token = self.rng.choice([t for t in range(3, self.vocab) if t != self.eos])
            else:
                token = answer[done] if done < len(answer) else self.eos
            logits[b, -1, token] = 1.0
        return logits


def test_perfect_predictor_scores_one(tokenizer):
    probes = _arithmetic_probes(40)
    scores = score_probes(LookupPredictor(tokenizer, probes, perfect=True), tokenizer, probes,
                          batch_size=8)
    assert {k: v["accuracy"] for k, v in scores.items()} == {"arithmetic": 1.0, "chemistry": 1.0}
    assert scores["arithmetic"]["n"] == 40 and scores["chemistry"]["n"] == 3
    assert all(ex["correct"] for ex in scores["arithmetic"]["examples"])


def test_random_predictor_scores_near_zero(tokenizer):
    probes = _arithmetic_probes(60)
    scores = score_probes(LookupPredictor(tokenizer, probes, perfect=False), tokenizer, probes)
    assert scores["arithmetic"]["accuracy"] <= 0.05
    assert scores["chemistry"]["accuracy"] == 0.0


def test_real_model_batched_outputs_equal_per_probe_reference(tokenizer, randomise):
    cfg = get_preset("debug").model
    cfg.vocab_size = tokenizer.vocab_size
    model = randomise(build_model(cfg), seed=5)
    probes = _arithmetic_probes(12)[:12]  # prompts of several token lengths: several batches
    scores = score_probes(model, tokenizer, probes, batch_size=4)
    # reference: each probe alone, generating as many tokens as the scorer documents
    n_new = max(len(tokenizer.encode(p.answer)) for p in probes) + EXTRA_TOKENS
    outputs = [_greedy_text(model, tokenizer, p.prompt, n_new) for p in probes]
    examples = scores["arithmetic"]["examples"]
    assert [ex["output"] for ex in examples] == outputs[:len(examples)]
    assert any(outputs)  # the model says something
    expected = sum(answer_matches(o, p.answer) for o, p in zip(outputs, probes, strict=True))
    assert scores["arithmetic"]["accuracy"] == expected / len(probes)


def _greedy_text(model, tokenizer, prompt, n_new):
    """Greedy continuation of [EOD] + prompt alone, decoded as it reads after the prompt."""
    ids = prompt_ids(tokenizer, prompt)
    new = generate_tokens(model, torch.tensor([ids]), n_new, temperature=0.0)[0, len(ids):]
    new = new.tolist()
    new = new[:new.index(tokenizer.eos_id)] if tokenizer.eos_id in new else new
    head = tokenizer.decode(ids[1:])
    return tokenizer.decode(ids[1:] + new)[len(head):]


def test_skill_probes_are_scored_apart_and_left_out_of_the_corpus_mean(tokenizer):
    from auroragpt.corpora import Probe as CorpusProbe
    from auroragpt.eval.probes import load_probes
    from auroragpt.eval.report import flatten

    probes = load_probes(["numbers"], 6, seed=0)
    skills = {p.skill for p in probes if p.skill}
    assert skills == {"last digit", "next number", "even or odd"}
    assert sum(not p.skill for p in probes) == 6 and len(probes) == 6 * 4
    known = [p for p in probes if p.skill in ("", "last digit")]  # the predictor knows these
    predictor = LookupPredictor(tokenizer, known, perfect=True)
    scores = score_probes(predictor, tokenizer, probes, batch_size=8)
    accuracy = {name: s["accuracy"] for name, s in scores.items()}
    assert accuracy["numbers"] == accuracy["numbers/last digit"] == 1.0
    known_prompts = {p.prompt for p in known}  # the corpus's own probes may ask a skill's question
    for skill in ("next number", "even or odd"):
        asked = [p.prompt for p in probes if p.skill == skill]
        assert accuracy[f"numbers/{skill}"] == sum(q in known_prompts for q in asked) / len(asked) < 1
    flat = flatten({"step": 1, "tokens_seen": 2, "probes": scores})
    assert flat["probe_acc/mean"] == 1.0  # the mean is over corpora only
    assert flat["probe_acc/numbers/last digit"] == 1.0
    assert isinstance(probes[0], CorpusProbe)


def test_floor_is_the_share_of_the_commonest_answer(tokenizer):
    """Always answering " odd." gets 3 of these 4 right (spaces do not count), " 7." 2 of 3."""
    from auroragpt.corpora import Probe as CorpusProbe

    probes = [CorpusProbe("numbers", f"Is {n} even or odd? It is", answer, "even or odd")
              for n, answer in ((3, " odd."), (5, "odd."), (8, " even."), (9, " odd."))]
    probes += [CorpusProbe("numbers", f"The last digit of {n} is", answer, "last digit")
               for n, answer in ((17, " 7."), (27, " 7."), (12, " 2."))]
    scores = score_probes(LookupPredictor(tokenizer, probes, perfect=True), tokenizer, probes)
    assert scores["numbers/even or odd"]["floor"] == 0.75
    assert scores["numbers/last digit"]["floor"] == 2 / 3


def test_summary_lists_each_skill_against_its_floor(tmp_path):
    from auroragpt.eval.report import summary_markdown

    rows = [{"step": step, "tokens_seen": 1024 * step, "probes": {
        "numbers": {"accuracy": acc, "floor": 0.2, "n": 4, "examples": []},
        "numbers/even or odd": {"accuracy": acc, "floor": 0.53, "n": 32, "examples": []}}}
        for step, acc in ((100, 0.47), (600, 1.0))]
    summary = summary_markdown(tmp_path, rows, plots=[])
    assert "| skill | floor | step 100 | step 600 |" in summary
    assert "| numbers/even or odd | 53% | 47% | 100% |" in summary
    assert "| numbers |" not in summary.split("## Skills")[1].split("##")[0]  # corpora are not skills
