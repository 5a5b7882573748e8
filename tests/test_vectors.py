"""Chunk vectors: reused by the hash of their indexed text, resumed from a checkpoint, the rest embedded, in order."""
from __future__ import annotations

import dataclasses

import numpy as np

from qa.index.index import build
from qa.index.store import read_checkpoint, write_checkpoint
from qa.index.sync import previous_vectors
from qa.index.vectors import chunk_key, encode_chunks
from qa.intake.corpus import read_folder
from qa.text.split import indexed_text
from qa.types import Chunk

from .conftest import SEEDS, vectors_of


def _unloadable(settings, tmp_path):
    """Settings whose model cannot be loaded: encode_chunks raises if it tries."""
    return dataclasses.replace(settings, embed_model=str(tmp_path / "no-such-model"))


def test_chunk_key_depends_only_on_the_indexed_text():
    key = chunk_key(Chunk("a", "Vĩnh Phúc", "Hà Nội tặng 3 tỷ đồng.", 0, 22))
    assert key == chunk_key(Chunk("b", "Vĩnh Phúc", "Hà Nội tặng 3 tỷ đồng.", 100, 122)) and len(key) == 16
    assert key != chunk_key(Chunk("a", "Hải Phòng", "Hà Nội tặng 3 tỷ đồng.", 0, 22))  # the title is indexed
    assert key != chunk_key(Chunk("a", "Vĩnh Phúc", "Hà Nội tặng 4 tỷ đồng.", 0, 22))
    titled = Chunk("a", "Hà Nội", "Hà Nội tặng 3 tỷ đồng.", 0, 22)  # a text that starts with its title
    assert indexed_text(titled) == titled.text and chunk_key(titled) == chunk_key(dataclasses.replace(titled, title=""))


def test_known_vectors_load_no_model_and_come_back_in_chunk_order(seed_index, settings, tmp_path):
    chunks = [seed_index.chunks[i] for i in (4, 0, 2, 0)]  # a repeated chunk too
    known = {chunk_key(c): np.full(8, float(i), np.float32) for i, c in enumerate(seed_index.chunks[:5])}
    out = encode_chunks(_unloadable(settings, tmp_path), chunks, known=known)
    assert out.dtype == np.float32 and out[:, 0].tolist() == [4.0, 0.0, 2.0, 0.0]


def test_an_interrupted_runs_checkpoint_is_reused_and_the_rest_embedded_in_batches(seed_index, settings, tmp_path):
    s = dataclasses.replace(settings, checkpoint_chunks=2)
    chunks = [seed_index.chunks[i] for i in range(5)]
    marker = np.full((2, 384), 0.05, np.float32)  # what no model computes: the first two came from the checkpoint
    write_checkpoint(tmp_path / "ck", s, [chunk_key(c) for c in chunks[:2]], marker)
    out = encode_chunks(s, chunks, checkpoint=tmp_path / "ck")
    assert (out[:2] == marker).all()
    embedded = vectors_of(seed_index)[2:5]  # int8 activations are scaled per batch: close, not equal
    cosine = (out[2:] * embedded).sum(1) / np.linalg.norm(out[2:], axis=1) / np.linalg.norm(embedded, axis=1)
    assert (cosine > 0.99).all()  # another chunk of the seeds is at most 0.93
    assert set(read_checkpoint(tmp_path / "ck", s)) == {chunk_key(c) for c in chunks}
    assert len(list((tmp_path / "ck").glob("*.npz"))) == 1 + 2  # three chunks embedded two a batch
    again = encode_chunks(_unloadable(s, tmp_path), chunks, known=read_checkpoint(tmp_path / "ck", s))
    assert (again == out).all()


def test_no_chunks_give_an_empty_array_of_the_models_dimension(settings):
    out = encode_chunks(settings, [])
    assert out.shape == (0, 384) and out.dtype == np.float32


def test_an_update_embeds_only_the_chunks_that_changed(seed_index, settings, tmp_path):
    docs = read_folder(SEEDS)
    changed = dataclasses.replace(docs[0], text=docs[0].text + "\nHà Nội hỗ trợ Hòa Bình 2 tỷ đồng làm đường.")
    new_docs = [changed] + docs[1:3]  # one changed, two kept, two removed
    known = previous_vectors(settings.index_dir, settings)
    idx = build(new_docs, settings, known=known, checkpoint=tmp_path / "ck")
    embedded = set(read_checkpoint(tmp_path / "ck", settings))
    fresh = {chunk_key(c) for c in idx.chunks} - set(known)
    assert embedded == fresh and 0 < len(fresh) <= 3  # the changed document's last chunk(s) only
    old = dict(zip(map(chunk_key, seed_index.chunks), vectors_of(seed_index)))
    kept = [(i, chunk_key(c)) for i, c in enumerate(idx.chunks) if chunk_key(c) in old]
    assert len(kept) == len(idx.chunks) - len(fresh)
    assert all((vectors_of(idx)[i] == old[k]).all() for i, k in kept)
    assert idx.ask("Hà Nội hỗ trợ Hòa Bình bao nhiêu tiền làm đường?").text == "2 tỷ đồng"
