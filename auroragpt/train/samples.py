"""Text samples during training: the same prompts at every sample step, so progress is visible.

Each built-in corpus contributes one prompt: its first held-out probe (a passage of
standard-library code that stops before a name, a generated question that stops before its
answer), printed with the answer the model should produce. NOTE: a bare `def ` would be a poor
code prompt: after an end-of-document token the model expects a file's first line (a docstring,
an import), never a `def`. Prompts are fed as `[EOD] + prompt`, the way every
training document starts, and sampled with a generator seeded by the run's seed, so two
checkpoints of one run are compared on the same random draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from auroragpt.generation import stream_text
from auroragpt.model import Transformer

GENERIC_PROMPTS = ("def ", "The ")  # for data that is not one of the built-in corpora
SAMPLE_TEMPERATURE = 0.8  # below 1: fewer rare tokens, so a small model's text reads cleaner
SAMPLE_TOP_K = 40


@dataclass(frozen=True)
class SamplePrompt:
    corpus: str  # corpus the prompt comes from ("" for generic prompts)
    prompt: str
    expected: str | None = None  # the probe's answer, when the prompt is a probe


def sample_prompts(corpus_names: list[str]) -> list[SamplePrompt]:
    """One prompt per built-in corpus in the blend, or generic prompts for other data."""
    from auroragpt.corpora import CORPORA

    prompts = []
    for name in corpus_names:
        if name in CORPORA:
            probe = CORPORA[name].probes(1, seed=0)[0]
            prompts.append(SamplePrompt(name, probe.prompt, probe.answer))
    return prompts or [SamplePrompt("", text) for text in GENERIC_PROMPTS]


def generate_samples(model: Transformer, tokenizer, prompts: list[SamplePrompt],
                     max_new_tokens: int, seed: int, device: torch.device) -> list[dict]:
    """Continue every prompt; one record per prompt: corpus, prompt, text (and expected)."""
    generator = torch.Generator(device=device).manual_seed(seed)
    records = []
    for item in prompts:
        text = "".join(stream_text(model, tokenizer, item.prompt, max_new_tokens,
                                   temperature=SAMPLE_TEMPERATURE, top_k=SAMPLE_TOP_K,
                                   generator=generator))
        record = {"corpus": item.corpus, "prompt": item.prompt, "text": text}
        if item.expected is not None:
            record["expected"] = item.expected
        records.append(record)
    return records


def format_samples(step: int, records: list[dict], prompt_chars: int = 60) -> str:
    """Samples as a readable block for the console: the prompt's tail, then `|` and the text."""
    lines = [f"--- samples at step {step} ---"]
    for r in records:
        head = r["prompt"][-prompt_chars:].replace("\n", "\\n")
        body = r["text"].replace("\n", "\n" + " " * 13)
        lines.append(f"{r['corpus'] or '-':>11}: {head}|{body}")
        if "expected" in r:
            lines.append(f"{'expected':>11}: {r['expected'].strip()}")
    return "\n".join(lines)
