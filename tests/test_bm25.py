"""Our sparse BM25 gives rank-bm25's BM25Okapi scores, the reference."""
import numpy as np
from rank_bm25 import BM25Okapi

from qa.bm25 import BM25
from qa.normalise import terms


def test_scores_equal_rank_bm25_on_the_seeds(seed_index):
    docs = [terms(c.text) for c in seed_index.chunks]
    ours, ref = BM25.fit(docs), BM25Okapi(docs)
    for q in ["Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?", "ha noi tang vinh phuc", "Bí thư Tỉnh ủy", "xyz không có"]:
        np.testing.assert_allclose(ours.scores(terms(q)), ref.get_scores(terms(q)), rtol=1e-4, atol=1e-4)


def test_top_returns_best_first_and_only_matches():
    bm = BM25.fit([["a", "b"], ["c"], ["a", "a", "d"]])
    assert bm.top(["a"], 10) == [2, 0]
    assert bm.top(["zzz"], 10) == []
