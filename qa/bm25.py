"""Okapi BM25 on a sparse matrix: the per-(chunk, term) weights are computed at index time, so a query
is a sum of a few columns (a sparse matrix-vector product over just those columns, read from arrays that
a saved index memory-maps). Same formula as rank-bm25's BM25Okapi (its idf floor included), which the
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
    a query reads only its own terms' columns). Term counts are kept beside the weights so documents can
    be added without reading the others again (`extend`)."""

    terms: np.ndarray  # (n_terms,) uint64 term hashes, sorted; term j's entries are at indptr[j]:indptr[j + 1]
    indptr: np.ndarray  # (n_terms + 1,) int64
    rows: np.ndarray  # (nnz,) int32: the chunk of each entry
    weights: np.ndarray  # (nnz,) float32
    counts: np.ndarray  # (nnz,) uint16: how often the term occurs in the chunk
    n_chunks: int

    @classmethod
    def fit(cls, docs: Iterable[list[str]], k1: float = 1.5, b: float = 0.75) -> "BM25":
        """Weights for `docs` (token lists, read once: a generator keeps only one in memory at a time)."""
        return _weigh(*_count(docs), k1, b)

    def extend(self, keep: np.ndarray, docs: Iterable[list[str]], k1: float = 1.5, b: float = 0.75) -> "BM25":
        """The weights of the chunks where `keep` is true followed by `docs`: the same as `fit` on all of
        them, from the kept term counts and the new documents' tokens only."""
        mask = keep[self.rows]
        old_col = np.repeat(np.arange(len(self.terms), dtype=np.int64), np.diff(self.indptr))[mask]
        old_rows = (np.cumsum(keep, dtype=np.int64) - 1)[self.rows[mask]].astype(np.int32)
        new_terms, new_rows, new_col, new_tf, n_new = _count(docs)
        terms = np.union1d(self.terms, new_terms)
        n_kept = int(keep.sum())
        col = np.concatenate([np.searchsorted(terms, self.terms)[old_col], np.searchsorted(terms, new_terms)[new_col]])
        rows = np.concatenate([old_rows, new_rows + np.int32(n_kept)])
        tf = np.concatenate([self.counts[mask].astype(np.float32), new_tf])
        return _weigh(terms, rows, col, tf, n_kept + n_new, k1, b)

    def scores(self, query: list[str]) -> np.ndarray:
        """BM25 score of every chunk; repeated query terms count again, as in rank-bm25."""
        counts = Counter(self.columns(query))
        if not counts:
            return np.zeros(self.n_chunks, dtype=np.float32)
        spans = [(self.indptr[j], self.indptr[j + 1]) for j in counts]
        sub = sparse.csc_matrix((np.concatenate([self.weights[a:z] for a, z in spans]),  # the query's columns
                                 np.concatenate([self.rows[a:z] for a, z in spans]),
                                 np.cumsum([0] + [z - a for a, z in spans])), shape=(self.n_chunks, len(spans)))
        return sub @ np.asarray(list(counts.values()), dtype=np.float32)

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

    def top(self, query: list[str], n: int, allowed: np.ndarray | None = None) -> list[int]:
        """Indices of the n best chunks with a positive score (among the `allowed` ones), best first."""
        s = self.scores(query)
        if allowed is not None:
            s = np.where(allowed, s, 0)
        cand = np.flatnonzero(s > 0)
        if len(cand) > n:
            cand = cand[np.argpartition(-s[cand], n - 1)[:n]]
        return cand[np.lexsort((cand, -s[cand]))].tolist()


def _count(docs: Iterable[list[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """(terms, rows, cols, counts, n): the documents' distinct terms as sorted hashes; for each (document,
    term) pair its document, its column in `terms` and its count; the number of documents."""
    vocab: dict[str, int] = {}
    per_doc, cols, tfs = array("q"), array("i"), array("f")  # compact while reading
    for doc in docs:
        c = Counter(doc)
        per_doc.append(len(c))
        cols.extend(vocab.setdefault(term, len(vocab)) for term in c)
        tfs.extend(c.values())
    hashes = term_hashes(list(vocab))
    order = np.argsort(hashes, kind="stable")
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    rows = np.repeat(np.arange(len(per_doc), dtype=np.int32), np.frombuffer(per_doc, dtype=np.int64))
    return (hashes[order], rows, rank[np.frombuffer(cols, dtype=np.int32)], np.frombuffer(tfs, dtype=np.float32),
            len(per_doc))


def _weigh(terms: np.ndarray, rows: np.ndarray, col: np.ndarray, tf: np.ndarray, n: int, k1: float, b: float) -> BM25:
    """The BM25 of n chunks from their (row, column, count) entries; terms that no chunk holds are dropped."""
    df = np.bincount(col, minlength=len(terms))
    if (df == 0).any():
        present = df > 0
        col, terms, df = (np.cumsum(present) - 1)[col], terms[present], df[present]
    idf = okapi_idf(n, df.astype(np.float64)).astype(np.float32)
    lengths = np.bincount(rows, weights=tf, minlength=n).astype(np.float32)  # tokens per chunk
    norm = k1 * (1 - b + b * lengths / max(lengths.mean() if n else 1.0, 1e-9))
    w = tf * np.float32(k1 + 1)
    w /= tf + norm[rows]
    w *= idf[col]
    # column-major order (scipy's counting sort keeps each column's rows in order), applied to both arrays
    m = sparse.csc_matrix((np.arange(1, len(w) + 1, dtype=np.int64), (rows, col)), shape=(n, len(terms)))
    order = m.data - 1
    return BM25(terms, m.indptr.astype(np.int64), m.indices.astype(np.int32), w[order],
                np.minimum(tf[order], 65535).astype(np.uint16), n)


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
