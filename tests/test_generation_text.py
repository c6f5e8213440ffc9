"""Text generation (`complete`, `generate`, `stream_text`) against one prompt at a time through
`generate_tokens`, decoded with the tokenizer."""

from __future__ import annotations

import pytest
import torch

from auroragpt.config import get_preset
from auroragpt.generation import complete, generate, generate_tokens, stream_text
from auroragpt.model import build_model

PROMPTS = ["def ", "import os\n", "x = 1", "def ", "class Foo:\n    def", "12 + 7 ="]


@pytest.fixture
def tokenizer(sp_model_path):
    from auroragpt.tokenizer import Tokenizer

    return Tokenizer.load(sp_model_path)


@pytest.fixture
def model(randomise, tokenizer):
    cfg = get_preset("debug").model
    cfg.vocab_size = tokenizer.vocab_size
    return randomise(build_model(cfg), seed=1)


def _reference(model, tokenizer, prompt, max_new_tokens):
    """One prompt alone: [EOD] + tokens through generate_tokens, cut at the EOD."""
    ids = [tokenizer.eos_id] + tokenizer.encode(prompt)
    out = generate_tokens(model, torch.tensor([ids]), max_new_tokens, temperature=0.0)
    out = out[0, len(ids):].tolist()
    return out[:out.index(tokenizer.eos_id)] if tokenizer.eos_id in out else out


def test_batched_greedy_equals_one_at_a_time(model, tokenizer):
    batched = complete(model, tokenizer, PROMPTS, 12, batch_size=2)
    for prompt, completion in zip(PROMPTS, batched, strict=True):
        assert completion.ids == _reference(model, tokenizer, prompt, 12)
    assert batched[0].ids == batched[3].ids  # the same prompt, in different batches


def test_sampling_is_seeded(model, tokenizer):
    first = complete(model, tokenizer, PROMPTS, 10, temperature=1.0, seed=3)
    again = complete(model, tokenizer, PROMPTS, 10, temperature=1.0, seed=3)
    other = complete(model, tokenizer, PROMPTS, 10, temperature=1.0, seed=4)
    assert [c.ids for c in first] == [c.ids for c in again]
    assert [c.ids for c in first] != [c.ids for c in other]


def test_generate_returns_prompt_and_continuation_text(model, tokenizer):
    prompt = "def main():\n"
    text = generate(model, tokenizer, prompt, max_length=20)
    expected_ids = _reference(model, tokenizer, prompt, 20 - len(tokenizer.encode(prompt)))
    assert text.startswith(prompt)
    # the continuation reads exactly as the decoded prompt + continuation tokens do
    assert text == tokenizer.decode(tokenizer.encode(prompt) + expected_ids)


def test_long_prompts_are_cut_from_the_left_to_leave_room(model, tokenizer):
    long_prompt = "x = 1\n" * 200  # far beyond max_seq_len = 64
    (completion,) = complete(model, tokenizer, [long_prompt], 30)
    assert len(completion.prompt_ids) == model.config.max_seq_len - 30  # [EOD] + 33 tokens
    assert long_prompt.endswith(tokenizer.decode(completion.prompt_ids[1:]))
    assert len(completion.ids) <= 30
    # asking for more than half the context keeps half for the prompt
    (half,) = complete(model, tokenizer, [long_prompt], 1000)
    assert len(half.prompt_ids) == model.config.max_seq_len // 2


def test_streamed_pieces_join_to_the_decoded_continuation(model, tokenizer):
    prompt = "class Foo:\n    def"
    pieces = list(stream_text(model, tokenizer, prompt, 16))
    expected = tokenizer.decode(tokenizer.encode(prompt) + _reference(model, tokenizer, prompt, 16))
    assert len(pieces) > 1 and all(pieces)
    assert prompt + "".join(pieces) == expected
