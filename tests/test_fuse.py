import pytest

from qa.index.fuse import rrf


def test_rrf_scores_and_ranks():
    out = rrf([[1, 2, 3], [3, 1]], [1.0, 1.0], k=60)
    assert [i for i, _, _ in out] == [1, 3, 2]
    assert out[0][1] == pytest.approx(1 / 61 + 1 / 62)
    assert dict((i, r) for i, _, r in out)[2] == [2, None]


def test_weights_are_applied():
    assert rrf([[1], [2]], [1.0, 2.0])[0][0] == 2
    assert rrf([[1], [2]], [3.0, 1.0])[0][0] == 1
