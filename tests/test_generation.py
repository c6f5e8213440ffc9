"""Token-level generation against references: full recomputation step by step, explicit
sampling sets, and (compiled decoding) the eager path."""

import pytest
import torch

from auroragpt.config import ModelConfig
from auroragpt.generation import generate_tokens, sample_next
from auroragpt.model import build_model

CONFIG = ModelConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=97, multiple_of=16,
                     max_seq_len=48)


@pytest.fixture(scope="module")
def model():
    """One model for the compiled tests: each new model costs a compilation (seconds)."""
    torch.manual_seed(0)
    return build_model(CONFIG).eval()


@pytest.mark.parametrize("kwargs", [dict(temperature=0.0),
                                    dict(temperature=0.8, top_k=5, top_p=0.9)])
def test_generation_with_cache_is_token_identical_to_recomputation(kwargs):
    torch.manual_seed(0)
    model = build_model(ModelConfig(**{**vars(CONFIG), "tie_embeddings": True}))
    prompt = torch.randint(0, 97, (3, 5))
    outs = []
    for use_cache in (True, False):
        gen = torch.Generator().manual_seed(7)
        outs.append(generate_tokens(model, prompt, 30, use_cache=use_cache, generator=gen,
                                    **kwargs))
    assert outs[0].shape == (3, 35)
    assert torch.equal(outs[0], outs[1])
    # and greedy equals arg-max of full recomputation, step by step
    if kwargs["temperature"] == 0.0:
        seq = prompt
        for _ in range(30):
            seq = torch.cat([seq, model(seq)[:, -1].argmax(-1, keepdim=True)], 1)
        assert torch.equal(seq, outs[0])


def test_stop_tokens_end_generation_and_hold_the_stop_token(model):
    prompt = torch.randint(0, 97, (1, 4), generator=torch.Generator().manual_seed(1))
    greedy = generate_tokens(model, prompt, 20, temperature=0.0)
    stop = int(greedy[0, 6])  # the third generated token
    stopped = generate_tokens(model, prompt, 20, temperature=0.0, stop_tokens=[stop])
    first = (greedy[0, 4:] == stop).nonzero()[0].item()
    assert torch.equal(stopped[0], greedy[0, :4 + first + 1])


def test_generation_stops_at_max_seq_len_and_refuses_a_full_prompt(model):
    prompt = torch.randint(0, 97, (1, 40), generator=torch.Generator().manual_seed(2))
    assert generate_tokens(model, prompt, 100, temperature=0.0).shape == (1, 48)
    with pytest.raises(ValueError, match="no room below max_seq_len=48"):
        generate_tokens(model, torch.zeros(1, 48, dtype=torch.long), 5)


def test_sampling_filters_against_explicit_sets():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0]])
    gen = torch.Generator().manual_seed(0)
    draws = {int(sample_next(logits, 1.0, top_k=2, generator=gen)) for _ in range(200)}
    assert draws == {0, 1}
    # top-p: softmax = .636, .234, .086, .032, .012; cumulative .636, .870, .956
    for top_p, kept in ((0.85, {0, 1}), (0.9, {0, 1, 2})):
        draws = {int(sample_next(logits, 1.0, top_p=top_p, generator=gen)) for _ in range(400)}
        assert draws == kept
    assert int(sample_next(logits, 0.0)) == 0


# Compiled decoding: a cache spanning max_seq_len, one compilation for every prompt and position.


def test_compiled_greedy_tokens_equal_eager_and_recomputation(model):
    for prompt_len in (5, 3):  # one compilation serves every prompt length
        prompt = torch.randint(0, 97, (2, prompt_len), generator=torch.Generator().manual_seed(2))
        compiled = generate_tokens(model, prompt, 30, temperature=0, compile=True)
        assert compiled.shape == (2, prompt_len + 30)
        assert torch.equal(compiled, generate_tokens(model, prompt, 30, temperature=0))
        assert torch.equal(compiled, generate_tokens(model, prompt, 30, temperature=0,
                                                     use_cache=False))


def test_compiled_sampling_with_stop_tokens_equals_eager(model):
    prompt = torch.randint(0, 97, (2, 4), generator=torch.Generator().manual_seed(3))
    kwargs = dict(temperature=0.8, top_k=20, top_p=0.95)
    first = generate_tokens(model, prompt, 40, generator=torch.Generator().manual_seed(5), **kwargs)
    generated = first[:, 4:].tolist()
    # a token both rows sample (the first such), so that both stop on it and generation ends
    stop = min(set(generated[0]) & set(generated[1]),
               key=lambda token: max(row.index(token) for row in generated))
    outs = [generate_tokens(model, prompt, 40, stop_tokens=[stop], compile=compile,
                            generator=torch.Generator().manual_seed(5), **kwargs)
            for compile in (False, True)]
    assert torch.equal(outs[0], outs[1])
    assert outs[0].shape[1] < 44 and (outs[0][:, 4:] == stop).any(-1).all()


def test_compiled_decoding_follows_weight_updates():
    """The compiled step reads the parameters at each call, so a sample taken during training
    sees the current weights, not those of the first compilation."""
    torch.manual_seed(0)
    model = build_model(CONFIG).eval()  # its own: the weights change
    prompt = torch.randint(0, 97, (2, 5), generator=torch.Generator().manual_seed(4))
    before = generate_tokens(model, prompt, 20, temperature=0, compile=True)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param), alpha=0.1)
    after = generate_tokens(model, prompt, 20, temperature=0, compile=True)
    assert not torch.equal(before, after)
    assert torch.equal(after, generate_tokens(model, prompt, 20, temperature=0))
