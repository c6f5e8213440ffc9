"""Text in, text out: prompting a checkpoint the way it was trained, one prompt or many.

Training samples are windows over documents joined by the end-of-document token (EOD, the
tokenizer's `eos_id`), so a document's first token was always predicted right after an EOD.
Prompts are therefore encoded as `[EOD] + encode(prompt)`: "a new document starts here".
Generation stops at the next EOD.

Batches: our model has no padding mask, so prompts are grouped by token length and each
group runs as one batch through the KV-cached `Transformer.generate`; results come back in
the caller's order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from auroragpt.model import Transformer


def prompt_ids(tokenizer, prompt: str, max_prompt_tokens: int | None = None) -> list[int]:
    """`[EOD] + encode(prompt)`, keeping only the last `max_prompt_tokens` prompt tokens."""
    ids = tokenizer.encode(prompt)
    if max_prompt_tokens is not None:
        ids = ids[-max_prompt_tokens:]
    return [tokenizer.eos_id, *ids]


@dataclass
class Completion:
    prompt_ids: list[int]  # [EOD] + prompt tokens, as fed to the model
    ids: list[int]  # generated tokens, without the EOD that ended them

    def text(self, tokenizer) -> str:
        """The continuation as text, exactly as it reads after the prompt.

        NOTE: decoded together with the prompt and then cut, because sentencepiece drops the
        leading space of a sequence's first piece: decode(["▁main"]) is "main", not " main".
        """
        head = tokenizer.decode(self.prompt_ids[1:])
        full = tokenizer.decode(self.prompt_ids[1:] + self.ids)
        return full[len(head):] if full.startswith(head) else tokenizer.decode(self.ids)


@torch.no_grad()
def complete(model: Transformer, tokenizer, prompts: Sequence[str], max_new_tokens: int,
             temperature: float = 0.0, top_k: int | None = None, top_p: float | None = None,
             seed: int = 0, batch_size: int = 32) -> list[Completion]:
    """The continuation of each prompt, up to (not including) the EOD that ends it.

    temperature 0 is greedy; otherwise sampling is seeded with `seed` per length group, so
    the same prompts give the same draws at every checkpoint of a run. Prompts are cut from
    the left to leave `max_new_tokens` of context for the continuation, or half the context
    if that is less.
    """
    room = model.config.max_seq_len
    max_prompt = max(1, room - max(1, min(max_new_tokens, room // 2)) - 1)
    encoded = [prompt_ids(tokenizer, p, max_prompt) for p in prompts]
    groups: dict[int, list[int]] = defaultdict(list)
    for index, ids in enumerate(encoded):
        groups[len(ids)].append(index)

    device = next(model.parameters()).device
    results: list[Completion | None] = [None] * len(prompts)
    for length, indices in sorted(groups.items()):
        generator = torch.Generator(device=device).manual_seed(seed + length)
        for start in range(0, len(indices), batch_size):
            batch = indices[start:start + batch_size]
            tokens = torch.tensor([encoded[i] for i in batch], device=device)  # (B, T)
            out = model.generate(tokens, max_new_tokens, temperature=temperature, top_k=top_k,
                                 top_p=top_p, stop_tokens=[tokenizer.eos_id],
                                 generator=generator)
            for row, index in zip(out[:, length:].tolist(), batch, strict=True):
                results[index] = Completion(encoded[index], _until(row, tokenizer.eos_id))
    return results


def _until(tokens: list[int], stop: int) -> list[int]:
    return tokens[:tokens.index(stop)] if stop in tokens else tokens


def generate(model: Transformer, tokenizer, prompt: str, max_length: int = 128,
             temperature: float = 0.0, top_k: int | None = None, top_p: float | None = None,
             seed: int = 0) -> str:
    """The prompt followed by the model's continuation, as text.

    `max_length` counts prompt and continuation tokens together (as in Hugging Face's
    `generate(max_length=...)`), capped by the model's context. Greedy at temperature 0.
    """
    new_tokens = max_length - len(tokenizer.encode(prompt))
    if new_tokens <= 0:
        return prompt
    completion = complete(model, tokenizer, [prompt], new_tokens, temperature, top_k, top_p,
                          seed)[0]
    return prompt + completion.text(tokenizer)
