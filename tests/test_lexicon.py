"""The lexicon: mostly capitalised bigrams are names, names after place words places, counted over live chunks."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from qa.index.bm25 import BM25, Postings
from qa.index.lexicon import NAME_SHARE, LexCounts, found, lexicon, of_texts
from qa.intake import corpus
from qa.text.normalise import terms
from qa.text.split import ChunkTable, indexed_text

from .test_segment import QUESTIONS

NEWS = Path(__file__).resolve().parents[2] / "shared" / "data" / "vn_news.jsonl.gz"
CHUNKS = ["Hà Nội tặng tỉnh Vĩnh Phúc 3 tỷ đồng.", "Người huyện Mê Linh trồng hoa.", "giá bao nhiêu một bó hoa?",
          "Gia Bảo về Hà Nội.", "UBND tỉnh Vĩnh Phúc Nguyễn Văn Trì nói."]


def _arrays(c: LexCounts) -> dict:
    return {a: getattr(c, a).tolist() for a in LexCounts.ARRAYS}


def test_a_bigram_is_a_name_when_at_least_name_share_of_its_occurrences_are_capitalised():
    assert NAME_SHARE == 0.5
    assert "gia bao" in of_texts(["Gia Bảo đến", "giá bao nhiêu"]).names  # one of two: exactly the share
    assert "gia bao" not in of_texts(["Gia Bảo đến", "giá bao nhiêu", "giá bao lâu"]).names  # one of three
    assert "vinh phuc" in of_texts(["Vĩnh Phúc đẹp", "vĩnh phúc"]).names
    assert of_texts(["Vĩnh Phúc đẹp", "vĩnh phúc", "vĩnh phúc"]).names == frozenset()
    assert of_texts(["Giá bao nhiêu", "giá bao nhiêu"]).names == frozenset()  # "Giá" alone is no capitalised bigram


def test_places_are_the_names_written_after_place_words():
    lex = of_texts(["Người huyện Mê Linh trồng hoa.", "UBND tỉnh Vĩnh Phúc Nguyễn Văn Trì nói.", "Vào Hà Nội chơi.",
                    "Trạm vệ tinh Vinasat Một hoạt động."])
    assert lex.places == {"me linh", "vinh phuc"}  # a place ends where a person begins; Hà Nội follows none
    assert {"ha noi", "me linh", "vinh phuc", "nguyen van"} <= lex.names


def test_found_counts_capitalised_bigrams_and_cuts_places_at_a_person():
    capitalised, places = found("Hà Nội và Hà Nội, thành phố Hải Phòng. UBND tỉnh Vĩnh Phúc Nguyễn Văn Trì")
    assert capitalised["ha noi"] == 2 and capitalised["hai phong"] == 1 and capitalised["phuc nguyen"] == 1
    assert places == {"hai phong", "vinh phuc"}


def test_merged_counts_equal_the_counts_of_the_concatenated_texts():
    a, b = CHUNKS[:2], CHUNKS[2:]
    both = [np.ones(len(a), bool), np.ones(len(b), bool)]
    assert _arrays(LexCounts.merge([LexCounts.of(a), LexCounts.of(b)], both)) == _arrays(LexCounts.of(a + b))
    keeps = [np.array([False, True]), np.array([True, False, True])]
    kept = [t for t, ok in zip(CHUNKS, np.concatenate(keeps)) if ok]
    assert _arrays(LexCounts.merge([LexCounts.of(a), LexCounts.of(b)], keeps)) == _arrays(LexCounts.of(kept))


def test_the_lexicon_of_segments_counts_only_their_live_chunks():
    a, b = ["Gia Bảo đến", "giá bao lâu"], ["giá bao nhiêu", "Người huyện Mê Linh trồng hoa."]
    parts = [LexCounts.of(a), LexCounts.of(b)]
    postings = [Postings.of(terms(t) for t in a), Postings.of(terms(t) for t in b)]
    everything = lexicon(parts, BM25(postings))
    assert "gia bao" not in everything.names and everything.places == {"me linh"}
    first_gone = lexicon(parts, BM25(postings, [None, np.array([False, True])]))
    assert first_gone == of_texts(a + b[1:]) and "gia bao" in first_gone.names
    place_gone = lexicon(parts, BM25(postings, [None, np.array([True, False])]))
    assert place_gone == of_texts(a + b[:1]) and place_gone.places == frozenset()


def test_counts_of_no_chunks_make_an_empty_lexicon():
    assert of_texts([]) == of_texts(["không có tên riêng nào"]) == lexicon([], BM25([]))
    assert of_texts([]).names == frozenset() and of_texts([]).places == frozenset()


@pytest.mark.skipif(not NEWS.exists(), reason=f"{NEWS} is not on this machine")
def test_bm25_and_the_lexicon_over_segments_equal_a_fresh_count_on_1000_articles(settings):
    """Postings and lexicon counts of 1,000 articles in four segments, with deletes in each, against the
    same counted afresh over the chunks that remain."""
    with gzip.open(NEWS, "rt", encoding="utf-8") as f:
        docs = corpus.from_records(json.loads(line) for _, line in zip(range(1000), f))
    parts = [docs[i:i + 250] for i in range(0, 1000, 250)]
    tables = [ChunkTable.split(p, settings) for p in parts]
    texts = [[indexed_text(c) for c in t] for t in tables]
    rng = np.random.default_rng(0)
    dead = [rng.random(len(p)) < 0.2 for p in parts]  # a fifth of each segment's documents deleted
    live = [~d[t.doc] for d, t in zip(dead, tables)]
    postings = [Postings.of(terms(x) for x in tx) for tx in texts]
    counts = [LexCounts.of(tx) for tx in texts]
    kept = [x for tx, m in zip(texts, live) for x, ok in zip(tx, m) if ok]
    fresh_p, fresh_c = Postings.of(terms(x) for x in kept), LexCounts.of(kept)
    seg, one = BM25(postings, live), BM25([fresh_p])
    mask = np.concatenate(live)
    for q in [d.title for d in docs[::97]] + QUESTIONS:
        np.testing.assert_allclose(seg.scores(terms(q))[mask], one.scores(terms(q)), atol=1e-6)
        assert seg.top(terms(q), 10) == np.flatnonzero(mask)[one.top(terms(q), 10)].tolist()
    got, want = lexicon(counts, seg), lexicon([fresh_c], one)
    assert got == want and len(want.names) > 1000 and len(want.places) > 100
    merged = LexCounts.merge(counts, live)
    assert lexicon([merged], BM25([Postings.merge(postings, live)])) == want
    for name in LexCounts.ARRAYS:
        assert np.array_equal(getattr(merged, name), getattr(fresh_c, name)), name
