"""The two embedding backends compute the same vectors: onnx-int8 (onnxruntime) beside torch fp32."""
import dataclasses
import logging

import faiss
import pytest

import qa
from qa.config import Settings
from qa.index.index import load
from qa.models import embed

from .conftest import CARD_QUESTION, SEEDS


@pytest.fixture(scope="module")
def int8(settings):
    return dataclasses.replace(settings, embed_backend="onnx-int8")


def test_onnx_int8_vectors_agree_with_torch(seed_index, int8):
    texts = [c.text for c in seed_index.chunks]
    ours = embed.encode(embed.load_model(int8), texts, "passage")
    ref = embed.encode(seed_index.model(), texts, "passage")
    cos = (ours * ref).sum(axis=1)
    assert ours.shape == ref.shape and cos.mean() >= 0.99 and cos.min() >= 0.97, (cos.mean(), cos.min())
    q = [CARD_QUESTION]
    assert float(embed.encode(embed.load_model(int8), q, "query")[0] @ embed.encode(seed_index.model(), q, "query")[0]) >= 0.98


def test_an_index_records_its_backend_and_queries_embed_with_it(int8, tmp_path, caplog):
    idx = qa.build_index(SEEDS, path=tmp_path / "i8", settings=int8)
    assert idx.manifest["backend"] == "onnx-int8" and idx.ask(CARD_QUESTION).text == "3 tỷ đồng"
    again = load(tmp_path / "i8", dataclasses.replace(int8, embed_backend="torch"))  # the index's backend wins
    assert again.settings.embed_backend == "onnx-int8" and isinstance(again.segments[0].vectors, faiss.IndexScalarQuantizer)
    assert again.search(CARD_QUESTION, 3) == idx.search(CARD_QUESTION, 3)
    with caplog.at_level(logging.WARNING, "qa"):  # another backend: the vectors are computed again
        qa.open_index(dataclasses.replace(int8, index_dir=tmp_path / "i8", embed_backend="torch"), SEEDS)
    assert "embedding backend changed" in caplog.text


def test_unknown_backend_is_a_clear_error(settings):
    with pytest.raises(ValueError, match="embed_backend must be one of"):
        dataclasses.replace(settings, embed_backend="tensorrt")
    with pytest.raises(ValueError, match="embed_backend must be one of"):
        Settings.from_env({"QA_EMBED_BACKEND": "tensorrt"})
