"""Tokenizer: exact round-trips, fixed special ids, agreement with sentencepiece, clear errors.

References: sentencepiece's own processor loaded from the written file (our wrapper must add
nothing but the U+2581 escape), Python's UTF-8 encoder (byte fallback), the input text itself
(round-trips) and the byte content of files (determinism, atomic save).
"""

from __future__ import annotations

import inspect
import sysconfig
from pathlib import Path

import pytest
import sentencepiece as spm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auroragpt.corpora import mixed_text
from auroragpt.tokenizer import Tokenizer

CODE = (
    "def f(x):\n"
    "\tif x:\t# tab-indented\n"
    "        return {'a': [1, 2]}  \n"  # trailing spaces
    "\n\n"
    "class C:\r\n"
    "    '''Docstring with  two spaces and a trailing tab\t'''\n"
    "  \n"
)


def _training_texts() -> list[str]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    code = [(stdlib / name).read_text() for name in ("textwrap.py", "bisect.py", "heapq.py")]
    science = list(mixed_text(["arithmetic", "units", "chemistry", "graphs"], 30_000, seed=0))
    return code + science


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Tokenizer:
    path = tmp_path_factory.mktemp("tok") / "tok.model"
    return Tokenizer.train(_training_texts(), vocab_size=600, path=path)


@pytest.fixture(scope="module")
def reference(trained) -> spm.SentencePieceProcessor:
    return spm.SentencePieceProcessor(model_file=str(trained.model_path))


def test_special_ids_are_fixed(trained):
    assert (trained.pad_id, trained.unk_id, trained.bos_id, trained.eos_id) == (0, 1, 2, 3)
    assert [trained.id_to_piece(i) for i in range(5)] == ["<pad>", "<unk>", "<s>", "</s>", "\n"]
    assert trained.vocab_size == 600


def test_encode_matches_sentencepiece_reference(trained, reference):
    texts = ["Compute 37 + 48. The answer is 85.", CODE, "héllo wörld ∑ 😀", "", "  x  "]
    assert trained.encode_batch(texts) == [reference.encode(t) for t in texts]
    assert [trained.encode(t) for t in texts] == [reference.encode(t) for t in texts]
    assert trained.encode(texts[0], bos=True, eos=True) == [2, *reference.encode(texts[0]), 3]
    assert trained.encode_batch(texts, bos=True) == [[2, *reference.encode(t)] for t in texts]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(list("\n\t\r \u2581\x00ab1é€😀\u00a0\u3000"))),
))
def test_round_trip_arbitrary_unicode(trained, text):
    ids = trained.encode(text)
    assert trained.decode(ids) == text
    assert trained.decode_batch([ids, trained.encode(text, bos=True, eos=True)]) == [text, text]


def test_round_trip_code_and_whole_source_files(trained):
    assert trained.decode(trained.encode(CODE)) == CODE
    source = inspect.getsource(inspect)  # a large file the tokenizer was not trained on
    assert trained.decode(trained.encode(source)) == source
    assert trained.decode_batch(trained.encode_batch([CODE, source])) == [CODE, source]


def test_newline_is_one_piece_and_digits_are_split(trained):
    assert trained.encode("\n") == [4]
    assert trained.encode("\n\n\n") == [4, 4, 4]
    pieces = [trained.id_to_piece(i) for i in trained.encode("9876543210")]
    assert pieces == list("9876543210")


def test_byte_fallback_spells_utf8_bytes(trained):
    rare = "\U0001d518"  # MATHEMATICAL FRAKTUR CAPITAL U, absent from the training text
    pieces = [trained.id_to_piece(i) for i in trained.encode(rare)]
    assert pieces == [f"<0x{b:02X}>" for b in rare.encode("utf-8")]
    assert trained.unk_id not in trained.encode("\x00\x7f\U0010fffd" + rare)


def test_literal_meta_space_is_kept(trained, reference):
    text = "a\u2581b \u2581"
    ids = trained.encode(text)
    assert trained.decode(ids) == text
    assert reference.decode(reference.encode(text)) == "a b  "  # what plain sentencepiece does
    assert [trained.id_to_piece(i) for i in ids].count("<0xE2>") == 2


def test_decode_skips_special_ids(trained):
    ids = trained.encode("abc def")
    assert trained.decode([2, *ids, 3, 0, 0]) == "abc def"


def test_decode_accepts_integer_arrays(trained):
    np = pytest.importorskip("numpy")
    ids = trained.encode("Sum: 1 + 2 = 3.")
    assert trained.decode(np.array(ids, dtype=np.int64)) == "Sum: 1 + 2 = 3."


def test_training_is_deterministic_and_atomic(tmp_path):
    texts = _training_texts()
    a = Tokenizer.train(texts, 500, tmp_path / "a.model")
    b = Tokenizer.train(iter(texts), 500, tmp_path / "b.model")
    assert (tmp_path / "a.model").read_bytes() == (tmp_path / "b.model").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.model", "b.model"]  # no temp files
    assert a.model_path == tmp_path / "a.model" and b.vocab_size == 500


def test_save_copies_and_load_reads_back(trained, tmp_path):
    copy = trained.save(tmp_path / "sub" / "copy.model")
    assert copy.read_bytes() == trained.model_path.read_bytes()
    loaded = Tokenizer.load(copy)
    assert loaded.model_path == copy
    assert loaded.encode_batch([CODE, "x"]) == trained.encode_batch([CODE, "x"])
    assert sorted(p.name for p in copy.parent.iterdir()) == ["copy.model"]


def test_very_long_lines_are_trained_on_not_dropped(tmp_path):
    # One 400k-character line: sentencepiece alone would skip it (max_sentence_length), and
    # then fail with an empty corpus; chunking keeps it.
    line = "alpha_beta = gamma_delta(epsilon); " * 12_000
    tok = Tokenizer.train([line], 320, tmp_path / "long.model")
    pieces = {tok.id_to_piece(i) for i in range(tok.vocab_size)}
    assert {"epsilon", "\u2581gamma"} <= pieces  # merges learned from the long line
    assert tok.decode(tok.encode(line)) == line


def test_fewer_tokens_than_characters_on_unseen_text(trained):
    text = "".join(mixed_text(["arithmetic", "units", "chemistry"], 5_000, seed=99))
    assert len(trained.encode(text)) < 0.6 * len(text)


# --- errors ----------------------------------------------------------------------------------


def test_empty_input_is_refused(tmp_path):
    for texts in ([], ["", ""], iter([])):
        with pytest.raises(ValueError, match="no text to train on"):
            Tokenizer.train(texts, 300, tmp_path / "t.model")
    assert not (tmp_path / "t.model").exists()


def test_vocab_size_out_of_range_is_explained(tmp_path):
    with pytest.raises(ValueError, match=r"vocab_size=100 is too small.*at least \d+"):
        Tokenizer.train(["hello world"], 100, tmp_path / "t.model")
    with pytest.raises(ValueError, match=r"vocab_size=5000 is too large.*at most \d+"):
        Tokenizer.train(["hello world"], 5000, tmp_path / "t.model")
    with pytest.raises(ValueError, match="vocab_size=0"):
        Tokenizer.train(["hello world"], 0, tmp_path / "t.model")
    assert not (tmp_path / "t.model").exists()


def test_missing_and_corrupt_model_files_are_named(tmp_path):
    missing = tmp_path / "nope.model"
    with pytest.raises(FileNotFoundError, match="nope.model"):
        Tokenizer.load(missing)
    corrupt = tmp_path / "corrupt.model"
    corrupt.write_bytes(b"this is not a protobuf")
    with pytest.raises(ValueError, match="corrupt.model.*not a valid sentencepiece model"):
        Tokenizer.load(corrupt)


def test_bad_arguments(trained, tmp_path):
    with pytest.raises(ValueError, match="token id 600 is outside the vocabulary"):
        trained.decode([5, 600])
    with pytest.raises(TypeError, match="encode_batch expects a list"):
        trained.encode_batch("a string")
    with pytest.raises(TypeError, match="not a single string"):
        Tokenizer.train("a string", 300, tmp_path / "t.model")
