"""Our BM25 gives bm25s's scores (Lucene's idf, the reference), and any split of a corpus into segments,
some chunks deleted, scores exactly like one index built afresh from the chunks that remain."""
import bm25s
import numpy as np
import pytest

from qa.index.bm25 import BM25, Postings
from qa.text.normalise import terms

QUERIES = ["Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?", "ha noi tang vinh phuc", "Bí thư Tỉnh ủy", "xyz không có",
           "của của và"]


@pytest.fixture(scope="module")
def chunks(seed_index):
    return [terms(c.text) for c in seed_index.chunks]


def test_scores_equal_bm25s_lucene_on_the_seeds(chunks):
    ours, ref = BM25.fit(chunks), bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    ref.index([list(c) for c in chunks], show_progress=False)
    for q in QUERIES:
        want = ref.get_scores(terms(q)) if any(t in ref.vocab_dict for t in terms(q)) else np.zeros(len(chunks))
        np.testing.assert_allclose(ours.scores(terms(q)), want, rtol=1e-5, atol=1e-5)


def test_segments_with_deletes_score_like_one_fresh_index(chunks):
    rng = np.random.default_rng(0)
    cuts = [0, 20, 21, 45, len(chunks)]
    parts = [Postings.of(chunks[a:b]) for a, b in zip(cuts, cuts[1:])]
    live = [rng.random(b - a) > 0.3 for a, b in zip(cuts, cuts[1:])]
    live[1] = None  # a segment without deletes
    split = BM25(parts, live)
    kept = [c for (a, b), m in zip(zip(cuts, cuts[1:]), live) for c, ok in zip(chunks[a:b], m if m is not None else [True] * (b - a)) if ok]
    fresh = BM25.fit(kept)
    merged = BM25([Postings.merge(parts, live)])
    alive = np.concatenate([m if m is not None else np.ones(b - a, bool) for (a, b), m in zip(zip(cuts, cuts[1:]), live)])
    for q in QUERIES:
        s = split.scores(terms(q))
        assert not s[~alive].any()  # deleted chunks score nothing
        np.testing.assert_allclose(s[alive], fresh.scores(terms(q)), rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(merged.scores(terms(q)), fresh.scores(terms(q)))
        assert split.idf(terms(q)[0]) == fresh.idf(terms(q)[0])
    for name in Postings.ARRAYS:
        np.testing.assert_array_equal(getattr(merged.parts[0], name), getattr(fresh.parts[0], name))


def test_top_returns_best_first_and_only_matches():
    bm = BM25.fit([["a", "b"], ["c"], ["a", "a", "d"]])
    assert bm.top(["a"], 10) == [2, 0]
    assert bm.top(["zzz"], 10) == []
    assert BM25.fit([]).top(["a"], 3) == [] and BM25([]).scores(["a"]).shape == (0,)
