"""Segments: an index grown by adds, replacements and deletes answers exactly like one built afresh from the
documents it holds; merges keep the number of segments bounded and change no result."""
import dataclasses
import shutil

import numpy as np
import pytest

import qa
from qa.index.bm25 import Postings
from qa.index.index import build
from qa.index.segment import to_merge
from qa.index.sync import previous_vectors
from qa.intake.corpus import read_folder
from qa.text.normalise import terms

from .conftest import CARD_QUESTION, SEEDS

QUESTIONS = [CARD_QUESTION, "Vĩnh Phúc thu ngân sách bao nhiêu?", "giá xăng", "ha noi", "UBND tỉnh", "10.900 tỷ đồng"]


def _grown(settings):
    """The seeds, indexed two documents first, then one document a segment; one deleted, one replaced."""
    docs = read_folder(SEEDS)
    idx = build(docs[:2], settings)
    for d in docs[2:]:
        idx = idx.add([d])
    idx = idx.add([], remove=[docs[3].id])
    return idx.add([dataclasses.replace(docs[1], text=docs[1].text + "\nHà Nội hỗ trợ Sơn La 9 tỷ đồng.")])


def _same_results(grown, fresh):
    assert [d.id for d in grown.docs] == [d.id for d in fresh.docs]
    live = np.ones(len(grown.chunks), bool) if grown.live is None else grown.live
    for q in QUESTIONS:
        np.testing.assert_allclose(grown.bm25.scores(terms(q))[live], fresh.bm25.scores(terms(q)), atol=1e-6)
        for mode in qa.MODES:
            assert grown.search(q, 10, mode) == fresh.search(q, 10, mode), (q, mode)
        assert grown.ask(q).to_dict() == fresh.ask(q).to_dict()
        assert grown.idf(q.split()[0]) == fresh.idf(q.split()[0])
    assert grown.lexicon == fresh.lexicon and len(grown.lexicon.names) > 20
    assert all(grown.sentences_in(h) == fresh.sentences_in(h) for h in fresh.search(CARD_QUESTION, 10))


def test_a_grown_index_answers_like_a_fresh_build_saved_and_optimized(settings, tmp_path):
    grown = _grown(settings)
    assert len(grown.segments) == 4 and grown.live is not None  # the first segment lost a document
    grown.save(tmp_path / "grown")
    grown = qa.load(tmp_path / "grown", settings)
    fresh = build(grown.docs, settings, known=previous_vectors(tmp_path / "grown", settings))
    _same_results(grown, fresh)
    assert grown.ask("Hà Nội hỗ trợ Sơn La bao nhiêu tiền?").text == "9 tỷ đồng"
    one = grown.optimize()
    [seg] = one.segments
    for name in Postings.ARRAYS:  # merged postings are the arrays a fresh build makes
        assert np.array_equal(getattr(seg.postings, name), getattr(fresh.segments[0].postings, name)), name
    assert (seg.chunks.start == fresh.chunks.start).all() and np.array_equal(seg.sentences, fresh.sentences)
    assert (seg.chunk_vectors() == fresh.segments[0].chunk_vectors()).all()
    _same_results(one, fresh)
    one.save(tmp_path / "grown")
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "grown").glob("s*-docs-*")) == [seg.name]


def test_deleting_writes_only_a_tombstone_and_a_manifest(seed_index, settings, tmp_path):
    shutil.copytree(settings.index_dir, tmp_path / "i")  # a copy: saving seed_index elsewhere would move its path
    before = {p.name for p in (tmp_path / "i").iterdir()}
    idx = qa.load(tmp_path / "i", settings).add([], remove=["003_82f23e52a0d4abee"])
    idx.save(tmp_path / "i")
    new = {p.name for p in (tmp_path / "i").iterdir()} - before
    assert len(new) == 1 and next(iter(new)).startswith("s000001-deleted-")
    back = qa.load(tmp_path / "i", settings)
    assert "003_82f23e52a0d4abee" not in {d.id for d in back.docs} and len(back.docs) == 4
    assert all(h.doc_id != "003_82f23e52a0d4abee" for m in qa.MODES for h in back.search("Vĩnh Phúc", 20, m))
    with pytest.raises(KeyError):
        back.document("003_82f23e52a0d4abee")
    assert back.add([], remove=[d.id for d in back.docs]).search(CARD_QUESTION) == []  # everything deleted


def test_merging_keeps_the_segments_bounded(seed_index, settings):
    small = dataclasses.replace(settings, merge_factor=3, merge_floor_chunks=10)
    docs, idx = read_folder(SEEDS), seed_index
    counts = []
    for n in range(12):  # each a small new article: tier 0 fills up and is merged, then tier 1
        text = f"Tin số {n}: Hà Nội hỗ trợ tỉnh Điện Biên {n + 1} tỷ đồng xây trường."
        idx = dataclasses.replace(idx, settings=small).add([dataclasses.replace(docs[0], id=f"tin-{n}", text=text)])
        counts.append(len(idx.segments))
    assert max(counts) <= 2 * (3 - 1) + 1 and len(idx.docs) == 17
    assert [h.doc_id for h in idx.search("Tin số 11", 1, "bm25")] == ["tin-11"]


def test_the_merge_policy_takes_the_smallest_full_tier():
    assert to_merge([5, 7, 9], 3, 10) == [0, 1, 2]
    assert to_merge([5, 7, 50, 60], 3, 10) == []
    assert to_merge([500, 5, 50, 60, 70, 6], 3, 10) == [2, 3, 4]
    assert to_merge([500, 5, 6, 7, 50, 60, 70], 3, 10) == [1, 2, 3]
