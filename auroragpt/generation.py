"""Generation: sampling, streaming and compiled decoding, from token ids or from text.

Kept apart from the model, as Meta's reference keeps `generation.py` beside `model.py`: the
model turns tokens at given positions into logits (filling a `KVCache` when given one); this
module chooses the next tokens. Training samples, evaluation and `auroragpt generate` all
come here.

Token ids:
- `sample_next`: one token per row of logits; greedy at temperature 0, else top-k, top-p.
- `stream_tokens` / `generate_tokens`: continue a batch of prompts (B, T), one token at a
  time, with a KV cache (and, opt-in, a compiled one-token step).

Text (any tokenizer with `encode`, `decode` and `eos_id`): training samples are windows over
documents joined by the end-of-document token (EOD, the tokenizer's `eos_id`), so a
document's first token was always predicted right after an EOD. Prompts are therefore encoded
as `[EOD] + encode(prompt)` ("a new document starts here") and a continuation stops at the
next EOD.
- `stream_text`: one prompt, its continuation as text pieces as they are decoded (the CLI and
  training samples).
- `complete`: many prompts; our model has no padding mask, so prompts are grouped by token
  length and each group runs as one batch; results come back in the caller's order
  (evaluation).
- `generate`: the prompt followed by its continuation, as one string.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from auroragpt.model import KVCache, Transformer

# ----------------------------------------------------------------------------------------------
# Token ids
# ----------------------------------------------------------------------------------------------


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample one token per row of logits (B, V): greedy at temperature 0, else top-k then top-p."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        # drop a token when the tokens ranked above it already cover top_p
        drop_sorted = cumulative - sorted_logits.softmax(-1) >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.no_grad()
def stream_tokens(model: Transformer, prompt: torch.Tensor, max_new_tokens: int,
                  temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None, stop_tokens: Sequence[int] = (),
                  use_cache: bool = True, generator: torch.Generator | None = None,
                  compile: bool = False) -> Iterator[torch.Tensor]:
    """Yield the next token of every sequence, (B,), until all stopped or max_new_tokens.

    prompt: (B, T) token ids. temperature 0 is greedy. A sequence that produced a stop token
    keeps yielding that token while others continue. use_cache=False recomputes the whole
    sequence at every token (the reference the cache is tested against).

    compile=True runs the one-token steps through `torch.compile`. The cache then spans
    max_seq_len, so no shape depends on the prompt or the position and one compilation
    serves every prompt and position at a batch size. It costs seconds of compilation once
    per process and batch size and pays only on models whose decode step is dispatch
    overhead, after thousands of tokens (benchmarks/RESULTS.md, Training), so it is opt-in.
    """
    B, T = prompt.shape
    max_len = model.config.max_seq_len
    total = min(T + max_new_tokens, max_len)
    if T >= total:
        raise ValueError(f"prompt of {T} tokens leaves no room below max_seq_len={max_len}")
    tokens = prompt.new_empty(B, total)  # (B, total): prompt, then each new token
    tokens[:, :T] = prompt
    cache = KVCache.allocate(model, B, max_len if compile else total) if use_cache else None
    logits = model(prompt, cache=cache)[:, -1]  # (B, V); a cache is filled with the prompt
    step = _compiled_decode_step() if compile else _decode_step
    stop = torch.tensor(list(stop_tokens), device=prompt.device, dtype=prompt.dtype)
    finished = torch.zeros(B, dtype=torch.bool, device=prompt.device)
    for pos in range(T, total):
        next_token = sample_next(logits.float(), temperature, top_k, top_p, generator)
        if len(stop_tokens):
            next_token = torch.where(finished, tokens[:, pos - 1], next_token)  # (B,)
            finished |= torch.isin(next_token, stop)
        tokens[:, pos] = next_token
        yield next_token
        if pos + 1 == total or (len(stop_tokens) and bool(finished.all())):
            return
        if cache is None:
            logits = model(tokens[:, :pos + 1])[:, -1]
        else:
            position = torch.tensor([pos], device=prompt.device)  # (1,)
            logits = step(model, next_token[:, None], position, cache)


@torch.no_grad()
def generate_tokens(model: Transformer, prompt: torch.Tensor, max_new_tokens: int,
                    **kwargs) -> torch.Tensor:
    """Prompt (B, T) plus up to max_new_tokens sampled tokens: (B, T + n). See `stream_tokens`."""
    new = list(stream_tokens(model, prompt, max_new_tokens, **kwargs))
    return torch.cat([prompt, torch.stack(new, dim=1)], dim=1) if new else prompt


def _decode_step(model: Transformer, token: torch.Tensor, position: torch.Tensor,
                 cache: KVCache) -> torch.Tensor:
    """Logits (B, V) of one new token (B, 1) at `position` (1,), stored in the cache."""
    return model(token, cache=cache, positions=position)[:, -1]


@functools.cache
def _compiled_decode_step():
    """`_decode_step` compiled once per process; it recompiles for a new batch size or model shape
    (another model of the same config reuses the compiled code: parameters are its inputs)."""
    return torch.compile(_decode_step, fullgraph=True, dynamic=False)


# ----------------------------------------------------------------------------------------------
# Text
# ----------------------------------------------------------------------------------------------


def prompt_ids(tokenizer, prompt: str, max_prompt_tokens: int | None = None) -> list[int]:
    """`[EOD] + encode(prompt)`, keeping only the last `max_prompt_tokens` prompt tokens."""
    ids = tokenizer.encode(prompt)
    if max_prompt_tokens is not None:
        ids = ids[-max_prompt_tokens:]
    return [tokenizer.eos_id, *ids]


def prompt_budget(max_seq_len: int, max_new_tokens: int) -> int:
    """Prompt tokens kept (besides the EOD): room for `max_new_tokens`, or for half the context
    if that is less; prompts are cut from the left."""
    return max(1, max_seq_len - max(1, min(max_new_tokens, max_seq_len // 2)) - 1)


def continuation_text(tokenizer, prompt_ids: Sequence[int], new_ids: Sequence[int]) -> str:
    """New tokens as text, exactly as they read after the prompt (`prompt_ids` has the EOD first).

    NOTE: decoded together with the prompt and then cut, because sentencepiece drops the leading
    space of a sequence's first piece: decode(["▁main"]) is "main", not " main".
    """
    head = tokenizer.decode(list(prompt_ids[1:]))
    full = tokenizer.decode(list(prompt_ids[1:]) + list(new_ids))
    return full[len(head):] if full.startswith(head) else tokenizer.decode(list(new_ids))


@dataclass
class Completion:
    prompt_ids: list[int]  # [EOD] + prompt tokens, as fed to the model
    ids: list[int]  # generated tokens, without the EOD that ended them

    def text(self, tokenizer) -> str:
        """The continuation as text, exactly as it reads after the prompt."""
        return continuation_text(tokenizer, self.prompt_ids, self.ids)


@torch.no_grad()
def stream_text(model: Transformer, tokenizer, prompt: str, max_new_tokens: int,
                temperature: float = 0.0, top_k: int | None = None, top_p: float | None = None,
                generator: torch.Generator | None = None) -> Iterator[str]:
    """Yield the continuation of `prompt` as text pieces, token by token, until EOD.

    A piece is yielded once it decodes to whole characters (a character split over byte
    tokens waits for its remaining bytes); the pieces join to `Completion.text`.
    """
    ids = prompt_ids(tokenizer, prompt, prompt_budget(model.config.max_seq_len, max_new_tokens))
    tokens = torch.tensor([ids], device=next(model.parameters()).device)  # (1, T)
    new_ids: list[int] = []
    emitted = ""
    for token in stream_tokens(model, tokens, max_new_tokens, temperature=temperature,
                               top_k=top_k, top_p=top_p, stop_tokens=(tokenizer.eos_id,),
                               generator=generator):
        if int(token) == tokenizer.eos_id:
            break
        new_ids.append(int(token))
        text = continuation_text(tokenizer, ids, new_ids)
        if text.endswith("\ufffd") or not text.startswith(emitted):
            continue
        yield text[len(emitted):]
        emitted = text


@torch.no_grad()
def complete(model: Transformer, tokenizer, prompts: Sequence[str], max_new_tokens: int,
             temperature: float = 0.0, top_k: int | None = None, top_p: float | None = None,
             seed: int = 0, batch_size: int = 32) -> list[Completion]:
    """The continuation of each prompt, up to (not including) the EOD that ends it.

    temperature 0 is greedy; otherwise sampling is seeded with `seed` per length group, so
    the same prompts give the same draws at every checkpoint of a run. Prompts are cut from
    the left as `prompt_budget` says.
    """
    max_prompt = prompt_budget(model.config.max_seq_len, max_new_tokens)
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
            out = generate_tokens(model, tokens, max_new_tokens, temperature=temperature,
                                  top_k=top_k, top_p=top_p, stop_tokens=[tokenizer.eos_id],
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
