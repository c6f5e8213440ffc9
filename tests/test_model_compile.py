"""Compiled decoding (`generate(compile=True)`: tensor positions, a static cache) against the
eager cache path and full recomputation."""

import pytest
import torch

from auroragpt.config import ModelConfig
from auroragpt.model import KVCache, build_model

CONFIG = ModelConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=97, multiple_of=16,
                     max_seq_len=48)


@pytest.fixture(scope="module")
def model():
    """One model for the compiled tests: each new model costs a compilation (seconds)."""
    torch.manual_seed(0)
    return build_model(CONFIG).eval()


def test_tensor_positions_give_the_logits_of_int_positions():
    """Positions as tensors (whole-cache attention under a mask, in-place cache writes) ==
    positions as ints (attention over the filled slice), prefill and chunks included."""
    torch.manual_seed(1)
    model = build_model(CONFIG).double()
    tokens = torch.randint(0, 97, (2, 17))
    sliced = KVCache.allocate(model, 2, 17)
    static = KVCache.allocate(model, 2, CONFIG.max_seq_len)
    with torch.no_grad():
        by_int = [model(tokens[:, :6], cache=sliced, start_pos=0),
                  model(tokens[:, 6:9], cache=sliced, start_pos=6)]
        by_int += [model(tokens[:, t:t + 1], cache=sliced, start_pos=t) for t in range(9, 17)]
        by_tensor = [model(tokens[:, :6], cache=static, start_pos=torch.arange(6)),
                     model(tokens[:, 6:9], cache=static, start_pos=torch.arange(6, 9))]
        by_tensor += [model(tokens[:, t:t + 1], cache=static, start_pos=torch.tensor([t]))
                      for t in range(9, 17)]
    torch.testing.assert_close(torch.cat(by_tensor, 1), torch.cat(by_int, 1), rtol=1e-10,
                               atol=1e-10)
    torch.testing.assert_close(torch.cat(by_int, 1), model(tokens), rtol=1e-10, atol=1e-10)


def test_compiled_greedy_tokens_equal_eager_and_recomputation(model):
    for prompt_len in (5, 3):  # one compilation serves every prompt length
        prompt = torch.randint(0, 97, (2, prompt_len), generator=torch.Generator().manual_seed(2))
        compiled = model.generate(prompt, 30, temperature=0, compile=True)
        assert compiled.shape == (2, prompt_len + 30)
        assert torch.equal(compiled, model.generate(prompt, 30, temperature=0))
        assert torch.equal(compiled, model.generate(prompt, 30, temperature=0, use_cache=False))


def test_compiled_sampling_with_stop_tokens_equals_eager(model):
    prompt = torch.randint(0, 97, (2, 4), generator=torch.Generator().manual_seed(3))
    kwargs = dict(temperature=0.8, top_k=20, top_p=0.95)
    first = model.generate(prompt, 40, generator=torch.Generator().manual_seed(5), **kwargs)
    stop = int(first[0, 10])
    outs = [model.generate(prompt, 40, stop_tokens=[stop], compile=compile,
                           generator=torch.Generator().manual_seed(5), **kwargs)
            for compile in (False, True)]
    assert torch.equal(outs[0], outs[1])
    assert outs[0].shape[1] < 44 and (outs[0][:, 4:] == stop).any(-1).all()


def test_compiled_decoding_follows_weight_updates(model):
    """The compiled step reads the parameters at each call, so a sample taken during training
    sees the current weights, not those of the first compilation."""
    prompt = torch.randint(0, 97, (2, 5), generator=torch.Generator().manual_seed(4))
    before = model.generate(prompt, 20, temperature=0, compile=True)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param), alpha=0.1)
    after = model.generate(prompt, 20, temperature=0, compile=True)
    assert not torch.equal(before, after)
    assert torch.equal(after, model.generate(prompt, 20, temperature=0))
