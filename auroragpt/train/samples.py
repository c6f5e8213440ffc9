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

from collections.abc import Iterator
from dataclasses import dataclass

import torch

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


@torch.no_grad()
def stream_completion(model: Transformer, tokenizer, prompt: str, max_new_tokens: int,
                      device: torch.device, temperature: float = SAMPLE_TEMPERATURE,
                      top_k: int | None = SAMPLE_TOP_K, top_p: float | None = None,
                      generator: torch.Generator | None = None) -> Iterator[str]:
    """Yield the continuation of `prompt` as text pieces, token by token, until EOD.

    The prompt's last max_seq_len // 2 tokens are kept, leaving room for the continuation.
    """
    ids = tokenizer.encode(prompt)[-(model.config.max_seq_len // 2):]
    tokens = torch.tensor([[tokenizer.eos_id, *ids]], device=device)  # (1, T)
    # NOTE: decode prompt and continuation together and cut: sentencepiece drops the leading
    # space of a continuation decoded on its own, and a multi-byte character split over byte
    # tokens only becomes text once all its bytes are there.
    head = tokenizer.decode(ids)
    new_ids: list[int] = []
    emitted = ""
    for token in model.stream(tokens, max_new_tokens, temperature=temperature, top_k=top_k,
                              top_p=top_p, stop_tokens=(tokenizer.eos_id,),
                              generator=generator):
        if int(token) == tokenizer.eos_id:
            break
        new_ids.append(int(token))
        text = tokenizer.decode(ids + new_ids)[len(head):]
        if text.endswith("\ufffd") or not text.startswith(emitted):
            continue  # an incomplete character: wait for its remaining bytes
        yield text[len(emitted):]
        emitted = text


def generate_samples(model: Transformer, tokenizer, prompts: list[SamplePrompt],
                     max_new_tokens: int, seed: int, device: torch.device) -> list[dict]:
    """Continue every prompt; one record per prompt: corpus, prompt, text (and expected)."""
    generator = torch.Generator(device=device).manual_seed(seed)
    records = []
    for item in prompts:
        text = "".join(stream_completion(model, tokenizer, item.prompt, max_new_tokens, device,
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
