"""The dense side: a faiss inner-product index over L2-normalised vectors (cosine similarity)."""
from __future__ import annotations

import faiss
import numpy as np


def build(vectors: np.ndarray) -> faiss.Index:
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def top(index: faiss.Index, query: np.ndarray, n: int) -> list[int]:
    """Indices of the n nearest chunks, best first."""
    if index.ntotal == 0:
        return []
    _, ids = index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), min(n, index.ntotal))
    return [int(i) for i in ids[0] if i >= 0]
