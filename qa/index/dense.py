"""The dense side: faiss inner-product search over L2-normalised vectors (cosine similarity).

Vectors are stored as float16 (half the memory of float32; recall beside float32 in docs/benchmarks.md).
Search is exact up to `Settings.hnsw_min_chunks` vectors; above, it goes through an HNSW graph, whose
recall@10 against exact search is measured by bench/scale.py.
"""
from __future__ import annotations

import os

import faiss
import numpy as np

from qa.config import Settings

FP16 = faiss.ScalarQuantizer.QT_fp16
# A search is one query: faiss's OpenMP threads would spin after it and starve onnxruntime's, which embeds
# the next question (embed + search p50 5.2 ms, p95 16 ms with two threads; 1.8 and 2.1 ms with one).
# Building still uses every core.
faiss.omp_set_num_threads(1)


def build(vectors: np.ndarray, hnsw_min: int = 50_000, m: int = 32, ef_construction: int = 80) -> faiss.Index:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    d = vectors.shape[1]
    if len(vectors) >= hnsw_min:
        index = faiss.IndexHNSWSQ(d, FP16, m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
    else:
        index = faiss.IndexScalarQuantizer(d, FP16, faiss.METRIC_INNER_PRODUCT)
    index.train(vectors[:1])  # float16 needs no statistics
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    try:
        index.add(vectors)
    finally:
        faiss.omp_set_num_threads(1)
    return index


def tune(index: faiss.Index, ef_search: int) -> None:
    """How widely an HNSW search explores (more: higher recall, slower); nothing to tune on a flat index."""
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = ef_search


def top(index: faiss.Index, query: np.ndarray, n: int, allowed: np.ndarray | None = None,
        exact_below: int = Settings.filter_exact_chunks) -> list[int]:
    """Indices of the n nearest chunks of one index (among the `allowed` ones), best first."""
    return search([index], [0, index.ntotal], query, n, allowed, exact_below)


def search(indexes: list[faiss.Index], offsets, query: np.ndarray, n: int, allowed: np.ndarray | None = None,
           exact_below: int = Settings.filter_exact_chunks) -> list[int]:
    """Positions of the n nearest chunks over segments (segment i's chunks at offsets[i]:offsets[i + 1]),
    among the `allowed` ones, best first: each segment's n nearest, merged by similarity."""
    q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
    found: list[tuple[float, int]] = []
    for index, a, b in zip(indexes, offsets[:-1], offsets[1:]):
        part = None if allowed is None else allowed[a:b]
        scores, ids = _nearest(index, q, n, None if part is None or part.all() else part, exact_below)
        found += zip((-scores).tolist(), (ids + int(a)).tolist())
    found.sort()
    return [i for _, i in found[:n]]


def _nearest(index: faiss.Index, q: np.ndarray, n: int, allowed: np.ndarray | None,
             exact_below: int) -> tuple[np.ndarray, np.ndarray]:
    """Similarities and indices of the n nearest chunks of one index. A filtered search of an HNSW graph can
    miss what few chunks pass: up to `exact_below` of them are searched exactly (the graph's flat storage with
    the same selector), and a graph search that finds fewer than exist is done again exactly."""
    none = np.zeros(0, np.float32), np.zeros(0, np.int64)
    if index.ntotal == 0:
        return none
    if allowed is None:
        return _found(*index.search(q, min(n, index.ntotal)))
    count = int(np.count_nonzero(allowed))
    want = min(n, count)
    if not want:
        return none
    if len(allowed) - count <= n:  # a few chunks left out (deleted ones): a plain search a little deeper
        scores, ids = _found(*index.search(q, min(n + len(allowed) - count, index.ntotal)))
        keep = allowed[ids]
        if keep.sum() >= want:
            return scores[keep][:want], ids[keep][:want]
    hnsw = isinstance(index, faiss.IndexHNSW)
    bits = np.packbits(allowed, bitorder="little")
    selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits))
    if hnsw and count > exact_below:
        params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(index.hnsw.efSearch, want))
        scores, ids = _found(*index.search(q, want, params=params))
        if len(ids) == want:
            return scores, ids
    flat = faiss.downcast_index(index.storage) if hnsw else index  # the graph's own float16 vectors, exactly
    return _found(*flat.search(q, want, params=faiss.SearchParameters(sel=selector)))


def _found(scores: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = ids[0] >= 0
    return scores[0][keep], ids[0][keep].astype(np.int64)
