"""Okapi BM25 on a sparse matrix: the per-(chunk, term) weights are computed at index time, so a query
is a sum of a few columns (scipy builds the matrix; the query path reads its arrays directly). Same formula as rank-bm25's BM25Okapi (its idf floor included), which the
tests use as the reference.

Terms are kept as sorted 64-bit hashes rather than strings: a vocabulary of millions of syllables and
bigrams loads as one array and is looked up with a binary search (two terms sharing a hash, odds about
1e-7 at 5 million terms, would share a column).
"""
from __future__ import annotations

import hashlib
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import sparse

EPSILON = 0.25  # rank-bm25: negative idf is replaced by EPSILON * mean idf


@dataclass
class BM25:
    """The weights by term (compressed sparse columns as plain arrays, which a saved index memory-maps:
    a query reads only its own terms' columns)."""

    terms: np.ndarray  # (n_terms,) uint64 term hashes, sorted; term j's weights are at indptr[j]:indptr[j + 1]
    indptr: np.ndarray  # (n_terms + 1,) int64
    rows: np.ndarray  # (nnz,) int32: the chunk of each weight
    weights: np.ndarray  # (nnz,) float32
    n_chunks: int

    @classmethod
    def fit(cls, docs: Iterable[list[str]], k1: float = 1.5, b: float = 0.75) -> "BM25":
        """Weights for `docs` (token lists, read once: a generator keeps only one in memory at a time)."""
        vocab: dict[str, int] = {}
        counts, cols, tfs = array("l"), array("i"), array("f")  # per doc, then per (doc, term): compact
        for doc in docs:
            c = Counter(doc)
            counts.append(len(c))
            cols.extend(vocab.setdefault(term, len(vocab)) for term in c)
            tfs.extend(c.values())
        n = len(counts)
        hashes = term_hashes(list(vocab))
        order = np.argsort(hashes, kind="stable")
        rank = np.empty_like(order, dtype=np.int32)
        rank[order] = np.arange(len(order), dtype=np.int32)
        col = rank[np.frombuffer(cols, dtype=np.int32)]  # columns in hash order
        del cols
        rows = np.repeat(np.arange(n, dtype=np.int32), np.frombuffer(counts, dtype=np.int64))
        tf = np.frombuffer(tfs, dtype=np.float32)
        idf = okapi_idf(n, np.bincount(col, minlength=len(vocab)).astype(np.float64)).astype(np.float32)
        lengths = np.bincount(rows, weights=tf, minlength=n).astype(np.float32)  # tokens per doc
        norm = k1 * (1 - b + b * lengths / max(lengths.mean() if n else 1.0, 1e-9))
        w = tf * np.float32(k1 + 1)
        w /= tf + norm[rows]
        w *= idf[col]
        m = sparse.csc_matrix((w, (rows, col)), shape=(n, len(vocab)), dtype=np.float32)
        return cls(hashes[order], m.indptr.astype(np.int64), m.indices.astype(np.int32), m.data, n)

    def scores(self, query: list[str]) -> np.ndarray:
        """BM25 score of every chunk; repeated query terms count again, as in rank-bm25."""
        s = np.zeros(self.n_chunks, dtype=np.float32)
        for j, count in Counter(self.columns(query)).items():
            a, z = self.indptr[j], self.indptr[j + 1]
            s[self.rows[a:z]] += np.float32(count) * self.weights[a:z]  # a column's rows are distinct
        return s

    def idf(self, term: str) -> float:
        """The raw Okapi idf of one term (no floor), 0 when unseen: how rare a question word is here."""
        found = self.columns([term])
        if not found:
            return 0.0
        j = found[0]
        df = self.indptr[j + 1] - self.indptr[j]
        return float(np.log((self.n_chunks - df + 0.5) / (df + 0.5)))

    def columns(self, query: list[str]) -> list[int]:
        """The columns of the query's terms that occur in the corpus, in query order (repeats kept)."""
        if not query or not len(self.terms):
            return []
        h = term_hashes(query)
        pos = np.minimum(np.searchsorted(self.terms, h), len(self.terms) - 1)
        return pos[self.terms[pos] == h].tolist()

    def top(self, query: list[str], n: int) -> list[int]:
        """Indices of the n best chunks with a positive score, best first."""
        s = self.scores(query)
        cand = np.flatnonzero(s > 0)
        if len(cand) > n:
            cand = cand[np.argpartition(-s[cand], n - 1)[:n]]
        return cand[np.lexsort((cand, -s[cand]))].tolist()


def okapi_idf(n: int, df: np.ndarray) -> np.ndarray:
    """rank-bm25's idf: log((N - df + 0.5) / (df + 0.5)), negatives replaced by EPSILON * mean idf."""
    idf = np.log(n - df + 0.5) - np.log(df + 0.5)
    if len(idf):
        idf[idf < 0] = EPSILON * idf.mean()
    return idf


def term_hashes(terms: list[str]) -> np.ndarray:
    """Stable 64-bit hashes of terms (Python's hash() changes from one process to the next)."""
    return np.fromiter((int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest(), "little")
                        for t in terms), dtype=np.uint64, count=len(terms))
