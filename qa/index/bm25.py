"""Okapi BM25 over segments of postings, scored at query time from term counts.

Each segment's postings are written once and never change: its terms as sorted 64-bit hashes, for each
term the chunks that hold it and how often (compressed sparse columns as plain arrays, which a saved index
memory-maps: a query reads only its own terms' columns), and each chunk's length. The corpus-wide
statistics (live chunks, their average length, each query term's document frequency) are counted over the
live chunks of every segment when a query comes, so an index split into segments, some of its chunks
deleted, scores exactly like one built afresh from the chunks that remain.

The idf is Lucene's, log(1 + (N - df + 0.5) / (df + 0.5)), as in bm25s (the tests' reference): never
negative, and it needs no statistic over the whole vocabulary, which rank-bm25's floor (a share of the mean
idf) would. Terms are hashes rather than strings: a vocabulary of millions of syllables and bigrams loads
as one array and is looked up with a binary search (two terms sharing a hash, odds about 1e-7 at 5 million
terms, would share a column).
"""
from __future__ import annotations

import hashlib
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse


@dataclass
class Postings:
    """One segment's term counts by term, and its chunks' lengths in tokens."""

    terms: np.ndarray  # (n_terms,) uint64 term hashes, sorted; term j's entries are at indptr[j]:indptr[j + 1]
    indptr: np.ndarray  # (n_terms + 1,) int64
    rows: np.ndarray  # (nnz,) int32: the chunk of each entry, ascending within a term
    counts: np.ndarray  # (nnz,) uint16: how often the term occurs in the chunk
    lengths: np.ndarray  # (n_chunks,) float32

    ARRAYS = ("terms", "indptr", "rows", "counts", "lengths")  # what an index saves, one .npy file each

    @classmethod
    def of(cls, docs: Iterable[list[str]]) -> "Postings":
        """The postings of `docs` (token lists, read once: a generator keeps only one in memory at a time)."""
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
        col = rank[np.frombuffer(cols, dtype=np.int32)]
        return cls._sorted(hashes[order], rows, col, np.frombuffer(tfs, dtype=np.float32), len(per_doc))

    @classmethod
    def merge(cls, parts: Sequence["Postings"], live: Sequence[np.ndarray | None]) -> "Postings":
        """One segment of the live chunks of `parts`, in order: the same as `of` on their token lists."""
        keeps = [np.ones(p.n_chunks, bool) if m is None else np.asarray(m, bool) for p, m in zip(parts, live)]
        terms = np.unique(np.concatenate([p.terms for p in parts])) if parts else np.zeros(0, np.uint64)
        rows, cols, tfs, base = [], [], [], 0
        for p, keep in zip(parts, keeps):
            mask = keep[p.rows]
            col = np.repeat(np.searchsorted(terms, p.terms), np.diff(p.indptr))[mask]
            rows.append((np.cumsum(keep) - 1)[p.rows[mask]] + base)
            cols.append(col)
            tfs.append(p.counts[mask].astype(np.float32))
            base += int(keep.sum())
        cat = lambda xs, t: np.concatenate(xs).astype(t) if xs else np.zeros(0, t)  # noqa: E731
        return cls._sorted(terms, cat(rows, np.int32), cat(cols, np.int64), cat(tfs, np.float32), base)

    @classmethod
    def _sorted(cls, terms, rows, col, tf, n) -> "Postings":
        """Column-major postings from (row, column, count) entries; terms that no chunk holds are dropped."""
        df = np.bincount(col, minlength=len(terms))
        if (df == 0).any():
            present = df > 0
            col, terms = (np.cumsum(present) - 1)[col], terms[present]
        lengths = np.bincount(rows, weights=tf, minlength=n).astype(np.float32)
        # scipy's counting sort keeps each column's rows in order; applied to both arrays through the data
        m = sparse.csc_matrix((np.arange(1, len(tf) + 1, dtype=np.int64), (rows, col)), shape=(n, len(terms)))
        order = m.data - 1
        return cls(terms, m.indptr.astype(np.int64), m.indices.astype(np.int32),
                   np.minimum(tf[order], 65535).astype(np.uint16), lengths)

    def weights(self, avgdl: float, k1: float, b: float) -> sparse.csr_matrix:
        """Each chunk's document-side BM25 weight of each of its terms, tf / (tf + k1 (1 - b + b len / avgdl)),
        as a chunks × terms CSR matrix: a chunk's score is the sum of these times the query's idf × count."""
        m = sparse.csc_matrix((self.counts.astype(np.float32), self.rows, self.indptr),
                              shape=(self.n_chunks, len(self.terms))).tocsr()
        norm = np.float32(k1) * (np.float32(1 - b) + np.float32(b / max(avgdl, 1e-9)) * self.lengths)
        m.data = m.data / (m.data + np.repeat(norm, np.diff(m.indptr)))
        return m

    @property
    def n_chunks(self) -> int:
        return len(self.lengths)

    def find(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Which of the terms `hashes` (sorted) this segment holds, and where their columns start and end."""
        if not len(self.terms) or not len(hashes):
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
        j = np.minimum(np.searchsorted(self.terms, hashes), len(self.terms) - 1)
        hit = np.flatnonzero(self.terms[j] == hashes)
        return hit, self.indptr[j[hit]], self.indptr[j[hit] + 1]


class BM25:
    """Scores over segments, chunk positions running through them in order (deleted chunks keep their
    position and score 0); `live[i]` marks segment i's chunks that are not deleted (None: all)."""

    def __init__(self, parts: Sequence[Postings], live: Sequence[np.ndarray | None] | None = None,
                 k1: float = 1.5, b: float = 0.75, sliced_from: int = 20_000):
        self.parts, self.k1, self.b, self.sliced_from = list(parts), k1, b, sliced_from
        self.live = list(live) if live is not None else [None] * len(self.parts)
        self.offsets = np.cumsum([0] + [p.n_chunks for p in self.parts])
        self.n_chunks = int(self.offsets[-1])
        n, total = 0, 0.0
        for p, m in zip(self.parts, self.live):
            n += p.n_chunks if m is None else int(m.sum())
            total += float(p.lengths.sum() if m is None else p.lengths[m].sum())
        self.n_live, self.avgdl = n, total / max(n, 1)
        self.live_mask = None if all(m is None for m in self.live) else np.concatenate(
            [np.ones(p.n_chunks, bool) if m is None else m for p, m in zip(self.parts, self.live)])
        self._norm = [np.float32(k1) * (np.float32(1 - b) + np.float32(b / max(self.avgdl, 1e-9)) * p.lengths)
                      for p in self.parts]  # the length part of each chunk's denominator

    @classmethod
    def fit(cls, docs: Iterable[list[str]], k1: float = 1.5, b: float = 0.75) -> "BM25":
        return cls([Postings.of(docs)], None, k1, b)

    def gather(self, hashes: np.ndarray) -> tuple[list[tuple[int, np.ndarray, np.ndarray, np.ndarray]], np.ndarray]:
        """The entries of the terms `hashes` (sorted, unique) as (segment, rows, counts, which term: one for
        all the rows, or one a row), deleted chunks' included, and each term's document frequency over the
        live chunks of all segments: one binary search a segment for all the terms. A large segment's columns
        are read one term at a time as slices (views, no copy), a small segment's gathered at once (fewer
        calls); `sliced_from` chunks make a segment large (Settings.bm25_sliced_from_chunks, docs/benchmarks.md)."""
        found, df = [], np.zeros(len(hashes), dtype=np.int64)
        for i, (p, m) in enumerate(zip(self.parts, self.live)):
            hit, starts, ends = p.find(hashes)
            if not len(hit):
                continue
            if p.n_chunks >= self.sliced_from:
                parts = [(p.rows[a:b], p.counts[a:b], k) for a, b, k in zip(starts.tolist(), ends.tolist(), hit.tolist())]
            else:
                entry = _ranges(starts, ends - starts)
                parts = [(p.rows[entry], p.counts[entry], np.repeat(hit, ends - starts))]
            for rows, counts, term in parts:
                if isinstance(term, int):
                    df[term] += len(rows) if m is None else int(np.count_nonzero(m[rows]))
                else:
                    df += np.bincount(term, None if m is None else m[rows], minlength=len(hashes)).astype(np.int64)
                found.append((i, rows, counts, term))
        return found, df

    def scores(self, query: list[str]) -> np.ndarray:
        """BM25 score of every chunk position; repeated query terms count again, as in rank-bm25 and bm25s."""
        hashes, times = np.unique(term_hashes(query), return_counts=True) if query else (np.zeros(0, np.uint64), None)
        found, df = self.gather(hashes)
        if not found:
            return np.zeros(self.n_chunks, dtype=np.float32)
        idf = self._idf(times, df)
        at, weight = [], []
        for i, rows, counts, term in found:
            tf = counts.astype(np.float32)
            at.append(rows.astype(np.int64) + self.offsets[i])
            weight.append(idf[term] * tf / (tf + self._norm[i][rows]))
        s = np.bincount(np.concatenate(at), np.concatenate(weight), self.n_chunks).astype(np.float32)
        return s if self.live_mask is None else s * self.live_mask  # deleted chunks score 0 (cheaper than dropping their entries)

    def _idf(self, times: np.ndarray, df: np.ndarray) -> np.ndarray:
        return (times * np.log1p((self.n_live - df + 0.5) / (df + 0.5))).astype(np.float32)

    def query_weights(self, query: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The query's side of the score: its terms present in the live chunks (hashes) and idf × count
        each; a chunk's score is their sum over its terms of weight × tf / (tf + its length part)."""
        if not query:
            return np.zeros(0, np.uint64), np.zeros(0, np.float32)
        hashes, times = np.unique(term_hashes(query), return_counts=True)
        df = self.gather(hashes)[1]
        seen = df > 0
        return hashes[seen], self._idf(times[seen], df[seen])

    def idf(self, term: str) -> float:
        """The raw Okapi idf of one term, log((N - df + 0.5) / (df + 0.5)), 0 when unseen: how rare a
        question word is here (the answerer weighs words by it; scoring uses Lucene's)."""
        df = int(self.gather(term_hashes([term]))[1][0])
        return float(np.log((self.n_live - df + 0.5) / (df + 0.5))) if df else 0.0

    def totals(self, hashes: np.ndarray) -> np.ndarray:
        """How often each of the terms `hashes` (sorted, unique) occurs in the live chunks, all occurrences
        counted (the lexicon's "how often a bigram occurs at all"); vectorised over many terms."""
        out = np.zeros(len(hashes))
        for p, m in zip(self.parts, self.live):
            hit, starts, ends = p.find(hashes)
            if not len(hit):
                continue
            if m is None:
                out[hit] += _column_sums(p.counts, starts, ends)
            else:
                lengths = ends - starts
                entry = _ranges(starts, lengths)
                out[hit] += np.bincount(np.repeat(np.arange(len(hit)), lengths), p.counts[entry] * m[p.rows[entry]],
                                        minlength=len(hit))
        return out

    def top(self, query: list[str], n: int, allowed: np.ndarray | None = None) -> list[int]:
        """Positions of the n best chunks with a positive score (among the `allowed` ones), best first."""
        s = self.scores(query)
        if allowed is not None:
            s = np.where(allowed, s, 0)
        cand = np.flatnonzero(s > 0)
        if len(cand) > n:
            cand = cand[np.argpartition(-s[cand], n - 1)[:n]]
        return cand[np.lexsort((cand, -s[cand]))].tolist()


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """starts[k], starts[k] + 1, …, starts[k] + lengths[k] - 1 for every k, one after another."""
    return np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths) + np.repeat(starts, lengths)


def _column_sums(counts: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """counts[starts[i]:ends[i]].sum() for each i (ranges sorted, none empty), without copying them."""
    bounds = np.empty(2 * len(starts), dtype=np.int64)
    bounds[0::2], bounds[1::2] = starts, ends
    if bounds[-1] >= len(counts):  # the last range runs to the end
        bounds = bounds[:-1]
    return np.add.reduceat(counts, bounds, dtype=np.int64)[0::2]


def term_hashes(terms: list[str]) -> np.ndarray:
    """Stable 64-bit hashes of terms (Python's hash() changes from one process to the next)."""
    return np.fromiter((int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest(), "little")
                        for t in terms), dtype=np.uint64, count=len(terms))
