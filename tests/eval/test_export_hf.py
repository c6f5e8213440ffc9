"""`export-hf` / `import-hf` against `transformers` itself, loading the exported folder offline."""

from __future__ import annotations

import json

import pytest
import torch

from auroragpt.checkpoint import read_model_weights
from auroragpt.eval import load_model
from auroragpt.eval.export import export_hf, import_hf
from auroragpt.eval.hf import ConversionError
from auroragpt.generation import generate_tokens

transformers = pytest.importorskip("transformers")

# code, unicode (accents, CJK, emoji, combining marks), digits, whitespace runs, tabs, newlines
TEXTS = [
    "def f(x):\n    return x + 1\n",
    "class A:\n\tpass\n\n\n# comment with  two spaces\n",
    "  leading and trailing spaces  ",
    "ünïcödé — ☃ 日本語 🙂 e\u0301",
    "12345 + 678 = 13023; 3.14159e-10",
    "mixed\r\nline endings\rand a\u00a0no-break space",
    "",
    " ",
    "\n\n",
    "literal </s> and <s> are text, not control tokens",
]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.mark.parametrize("tie", [False, True])
def test_exported_model_logits_and_greedy_match_transformers(make_run, tmp_path, tie):
    run = make_run(steps=(7,), tie=tie)
    out = export_hf(run / "checkpoints" / "global_step7", tmp_path / "hf")
    ours, tokenizer = load_model(run, 7)
    hf = transformers.LlamaForCausalLM.from_pretrained(out, dtype=torch.float32).eval()

    tokens = torch.tensor([tokenizer.encode(TEXTS[0] + TEXTS[1] + TEXTS[4])[:48]])
    with torch.no_grad():
        ours_logits, hf_logits = ours(tokens), hf(input_ids=tokens).logits
    assert ours_logits.abs().max() > 1.0
    torch.testing.assert_close(ours_logits, hf_logits, rtol=1e-5, atol=1e-5)

    prompt = torch.tensor([tokenizer.encode("def main():\n")])
    eos = tokenizer.eos_id
    ours_ids = generate_tokens(ours, prompt, 24, temperature=0.0, stop_tokens=[eos])[0].tolist()
    hf_ids = hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=24,
                         do_sample=False, eos_token_id=eos, pad_token_id=eos)[0].tolist()
    assert len(hf_ids) > prompt.shape[1] + 1
    assert ours_ids == hf_ids


def test_auto_tokenizer_encodes_and_decodes_like_ours(make_run, tmp_path):
    run = make_run(steps=(1,))
    out = export_hf(run / "checkpoints" / "global_step1", tmp_path / "hf")
    _, ours = load_model(run, 1)
    theirs = transformers.AutoTokenizer.from_pretrained(out)
    for text in TEXTS:
        expected = ours.encode(text)
        assert theirs.encode(text, add_special_tokens=False) == expected, text
        assert theirs(text)["input_ids"] == expected, text
        assert theirs.decode(expected) == ours.decode(expected), text
    assert (theirs.bos_token_id, theirs.eos_token_id) == (ours.bos_id, ours.eos_id)
    config = json.loads((out / "config.json").read_text())
    assert (config["bos_token_id"], config["eos_token_id"]) == (ours.bos_id, ours.eos_id)


@pytest.mark.parametrize("tie", [False, True])
def test_import_of_export_is_identity(make_run, tmp_path, tie):
    run = make_run(steps=(3,), tie=tie)
    ckpt = run / "checkpoints" / "global_step3"
    back = import_hf(export_hf(ckpt, tmp_path / "hf"), tmp_path / "ours")

    original, restored = read_model_weights(ckpt)[1], read_model_weights(back)[1]
    if tie:  # the trainer stores both names of the shared tensor, the import stores one
        original.pop("output.weight")
        restored.pop("output.weight", None)
    assert original.keys() == restored.keys()
    for name in original:
        assert torch.equal(original[name], restored[name]), name
    assert (back / "tokenizer.model").read_bytes() == (ckpt / "tokenizer.model").read_bytes()

    model_a, _ = load_model(ckpt)
    model_b, _ = load_model(back)
    arch = lambda c: (c.dim, c.n_layers, c.n_heads, c.kv_heads, c.vocab_size,  # noqa: E731
                      c.ffn_hidden_dim, c.norm_eps, c.rope_theta, c.max_seq_len, c.tie_embeddings)
    assert arch(model_a.config) == arch(model_b.config)
    tokens = torch.randint(0, model_a.config.vocab_size, (2, 16))
    assert torch.equal(model_a(tokens), model_b(tokens))


def test_export_refuses_to_overwrite(make_run, tmp_path):
    run = make_run(steps=(2,))
    out = tmp_path / "hf"
    export_hf(run, out)  # a run directory exports its newest checkpoint
    with pytest.raises(FileExistsError, match="not empty"):
        export_hf(run, out)
    export_hf(run, out, overwrite=True)
    assert not (tmp_path / ".hf.tmp").exists()


def test_import_names_the_unsupported_field(make_run, tmp_path):
    run = make_run(steps=(2,))
    out = export_hf(run, tmp_path / "hf")
    config = json.loads((out / "config.json").read_text())
    config["rope_parameters"] = {"rope_type": "llama3", "rope_theta": 1e4, "factor": 8.0}
    (out / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConversionError, match="config.json.*llama3"):
        import_hf(out, tmp_path / "ours")
    assert not (tmp_path / "ours").exists()


def _edited_export(make_run, tmp_path, **fields):
    """An exported tiny run whose config.json has `fields` set (None: removed)."""
    out = export_hf(make_run(steps=(2,)), tmp_path / "hf")
    config = json.loads((out / "config.json").read_text())
    config.update(fields)
    config = {k: v for k, v in config.items() if v is not None}
    (out / "config.json").write_text(json.dumps(config))
    return out, config


def test_both_rope_fields_import_as_transformers_reads_them(make_run, tmp_path):
    """`rope_parameters` and the legacy `rope_scaling` together: the same model as transformers."""
    plain = {"rope_type": "default", "rope_theta": 5e5}
    out, _ = _edited_export(make_run, tmp_path, rope_theta=5e5, rope_parameters=plain,
                            rope_scaling={"type": "default"})
    model, _ = load_model(import_hf(out, tmp_path / "ours"))
    assert model.config.rope_theta == 5e5
    hf = transformers.LlamaForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    tokens = torch.randint(0, model.config.vocab_size, (1, 48))
    with torch.no_grad():
        torch.testing.assert_close(model(tokens), hf(input_ids=tokens).logits,
                                   rtol=1e-5, atol=1e-5)


# Each case: the edit, our refusal, and what transformers 5 reads (rope_scaling wins; the
# plain import the first case used to get was silently a different model).
@pytest.mark.parametrize("fields,message,reads", [
    ({"rope_parameters": {"rope_type": "default", "rope_theta": 1e4},
      "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                       "high_freq_factor": 4.0, "original_max_position_embeddings": 16}},
     r"rope_scaling.rope_type='llama3' is not supported", "llama3"),
    ({"rope_parameters": {"rope_type": "linear", "rope_theta": 1e4, "factor": 2.0},
      "rope_scaling": {"rope_type": "default"}},
     r"rope_parameters.rope_type='linear' is not supported", "default"),
    ({"rope_parameters": {"rope_type": "default", "rope_theta": 5e5},
      "rope_scaling": {"rope_type": "default", "rope_theta": 1e4}},
     r"the RoPE base is given differently \(rope_scaling.rope_theta=10000, "
     r"rope_parameters.rope_theta=500000", "default"),
])
def test_ambiguous_or_scaled_rope_fields_are_refused(make_run, tmp_path, fields, message, reads):
    out, _ = _edited_export(make_run, tmp_path, rope_theta=None, **fields)
    with pytest.raises(ConversionError, match=rf"config.json: {message}"):
        import_hf(out, tmp_path / "ours")
    assert not (tmp_path / "ours").exists()
    hf = transformers.AutoConfig.from_pretrained(out)
    assert (hf.rope_parameters["rope_type"], hf.rope_parameters["rope_theta"]) == (reads, 1e4)


def test_odd_head_dim_names_the_file(make_run, tmp_path):
    out, config = _edited_export(make_run, tmp_path, head_dim=None)
    heads = config["num_attention_heads"]
    config.update(hidden_size=heads * 5, num_key_value_heads=heads)
    (out / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConversionError, match=rf"{out / 'config.json'}: hidden_size={heads * 5}, "
                                              rf"num_attention_heads={heads}: .* must be even"):
        import_hf(out, tmp_path / "ours")
