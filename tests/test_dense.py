"""Dense search: the nearest float16 vectors by inner product, best first, among the allowed chunks, exact or HNSW."""
from __future__ import annotations

import dataclasses

import faiss
import numpy as np
import pytest

from qa.config import Settings
from qa.index import dense

SMALL = dataclasses.replace(Settings(), hnsw_min_chunks=60, hnsw_m=8, hnsw_ef_construction=40, hnsw_ef_search=64)


def _vectors(n: int = 60, d: int = 16, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _nearest(vectors: np.ndarray, q: np.ndarray, n: int, allowed: np.ndarray | None = None) -> list[int]:
    """The exact answer: inner products with the vectors as float16 stores them, best first."""
    scores = vectors.astype(np.float16).astype(np.float32) @ q
    order = np.argsort(-scores, kind="stable")
    return [int(i) for i in order if allowed is None or allowed[i]][:n]


def _build(vectors: np.ndarray, s: Settings = SMALL) -> faiss.Index:
    index = dense.build(vectors, s.hnsw_min_chunks, s.hnsw_m, s.hnsw_ef_construction)
    dense.tune(index, s.hnsw_ef_search)
    return index


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return _vectors()


@pytest.fixture(scope="module")
def query() -> np.ndarray:
    return _vectors(1, seed=1)[0]


def test_hnsw_kicks_in_from_hnsw_min_chunks(vectors):
    assert isinstance(_build(vectors[:59]), faiss.IndexScalarQuantizer)
    graph = _build(vectors)
    assert isinstance(graph, faiss.IndexHNSW) and graph.ntotal == 60
    assert graph.hnsw.efSearch == SMALL.hnsw_ef_search
    assert isinstance(_build(vectors, dataclasses.replace(SMALL, hnsw_min_chunks=61)), faiss.IndexScalarQuantizer)


def test_tune_sets_the_search_width_of_a_graph_and_leaves_a_flat_index_alone(vectors):
    graph, flat = _build(vectors), _build(vectors[:10])
    dense.tune(graph, 17)
    dense.tune(flat, 17)
    assert graph.hnsw.efSearch == 17 and not isinstance(flat, faiss.IndexHNSW)


def test_exact_search_returns_the_nearest_vectors_in_order(vectors, query):
    flat = _build(vectors, dataclasses.replace(SMALL, hnsw_min_chunks=1000))
    assert dense.top(flat, query, 10) == _nearest(vectors, query, 10)
    assert dense.top(flat, vectors[42], 1) == [42]
    assert dense.top(flat, query, 100) == _nearest(vectors, query, 60)  # never more than it holds


def test_a_small_graph_searches_like_exact_search(vectors, query):
    assert dense.top(_build(vectors), query, 10) == _nearest(vectors, query, 10)


@pytest.mark.parametrize("hnsw_min", [1000, 60], ids=["flat", "hnsw"])
def test_an_allowed_mask_excludes_chunks(vectors, query, hnsw_min):
    index = _build(vectors, dataclasses.replace(SMALL, hnsw_min_chunks=hnsw_min))
    best = _nearest(vectors, query, 60)
    few_out = np.ones(60, bool)
    few_out[best[:2]] = False  # the two nearest left out: a deeper plain search
    assert dense.top(index, query, 5, few_out) == best[2:7]
    many_out = np.zeros(60, bool)
    many_out[best[10:30]] = True  # only farther ones allowed: a selector
    assert dense.top(index, query, 5, many_out) == best[10:15]
    assert dense.top(index, query, 5, many_out, exact_below=0) == best[10:15]  # through the graph, when there is one
    assert dense.top(index, query, 5, np.zeros(60, bool)) == []


def test_search_over_segments_merges_them_into_positions(vectors, query):
    parts = [_build(vectors[:25]), _build(vectors[25:])]
    assert dense.search(parts, [0, 25, 60], query, 10) == _nearest(vectors, query, 10)
    allowed = np.arange(60) % 3 == 0
    assert dense.search(parts, [0, 25, 60], query, 10, allowed) == _nearest(vectors, query, 10, allowed)


def test_an_empty_index_finds_nothing():
    empty = dense.build(np.zeros((0, 16), np.float32))
    assert empty.ntotal == 0 and dense.top(empty, _vectors(1)[0], 5) == []
    assert dense.top(empty, _vectors(1)[0], 5, np.zeros(0, bool)) == []
