"""Segments: the immutable parts an index is made of, and the policy that merges them.

A segment holds some documents with everything derived from them: chunks, sentences, BM25 postings,
vectors and lexicon counts. It never changes once written; deleting a document only marks it (`deleted`,
saved as the segment's small tombstone file). Adding documents makes a new segment. So that searches do
not slow down as segments pile up, segments of about the same size (a tier: below `merge_floor_chunks`
live chunks, then each `merge_factor` times larger) are merged into one once `merge_factor` of them exist;
a merge also drops the deleted documents. Each document is written about once per tier it passes through.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import faiss
import numpy as np

from qa.config import Settings
from qa.index import dense
from qa.index.bm25 import Postings
from qa.index.lexicon import LexCounts
from qa.text.normalise import terms
from qa.text.split import ChunkTable, indexed_text, sentences
from qa.types import Document


@dataclass
class Segment:
    """Documents and what is derived from them; chunk and sentence arrays number documents from 0."""

    name: str
    docs: list[Document]
    chunks: ChunkTable
    sentences: np.ndarray  # (n, 2) sentence offsets, document after document
    sentence_bounds: np.ndarray  # (documents + 1,): document i's sentences are sentences[bounds[i]:bounds[i + 1]]
    postings: Postings
    vectors: faiss.Index
    lex: LexCounts
    digests: np.ndarray  # (documents, 32) uint8: each document's `Document.digest`, which sync compares
    deleted: np.ndarray  # (documents,) bool
    files: dict | None = None  # its files' manifest entries, once written
    tombstone: dict | None = None  # the entry of the file that records `deleted`, once written

    @property
    def live_chunks(self) -> np.ndarray | None:
        """Which chunks are not deleted; None when none is."""
        return ~self.deleted[self.chunks.doc] if self.deleted.any() else None

    @property
    def size(self) -> int:
        """Live chunks: what the merge policy weighs."""
        return int((~self.deleted[self.chunks.doc]).sum())

    def delete(self, ids: set[str]) -> "Segment":
        """This segment with the documents `ids` names marked deleted (itself when it holds none of them)."""
        hit = np.asarray([d.id in ids for d in self.docs], dtype=bool) & ~self.deleted
        if not hit.any():
            return self
        return dataclasses.replace(self, deleted=self.deleted | hit, tombstone=None)

    @functools.cached_property
    def keys(self) -> np.ndarray:
        """Each chunk's key (int64 ≥ 0), from its document's digest and its offsets: a chunk keeps it through
        merges, a changed document's chunks get new ones (a Milvus row's id, qa/index/milvus.py)."""
        ch = self.chunks
        return np.fromiter((int.from_bytes(hashlib.blake2b(bytes(self.digests[d]) + a.to_bytes(8, "little") +
                                                           b.to_bytes(8, "little"), digest_size=8).digest(), "little") >> 1
                            for d, a, b in zip(ch.doc.tolist(), ch.start.tolist(), ch.end.tolist())),
                           dtype=np.int64, count=len(ch))

    def chunk_vectors(self) -> np.ndarray:
        return self.vectors.reconstruct_n(0, self.vectors.ntotal) if self.vectors.ntotal else np.zeros(
            (0, self.vectors.d), np.float32)


def make(name: str, docs: list[Document], chunks: ChunkTable, vectors: np.ndarray, settings: Settings) -> Segment:
    """A segment of `docs`, split into `chunks` whose vectors are given (derived here: cheap next to embedding)."""
    spans = [np.asarray(sentences(d.text), dtype=np.int32).reshape(-1, 2) for d in docs]
    return Segment(
        name, docs, chunks, np.concatenate(spans) if spans else np.zeros((0, 2), np.int32),
        np.cumsum([0] + [len(s) for s in spans], dtype=np.int64),
        Postings.of(terms(indexed_text(c)) for c in chunks), _vectors(vectors, settings),
        LexCounts.of(indexed_text(c) for c in chunks),
        np.frombuffer(b"".join(d.digest() for d in docs), dtype=np.uint8).reshape(-1, 32),
        np.zeros(len(docs), dtype=bool))


def merge(name: str, parts: Sequence[Segment], settings: Settings) -> Segment:
    """One segment of the live documents of `parts`, in order: what `make` gives on them, without embedding
    or reading the text again."""
    docs, doc, start, end, sents, per_doc, digests, vecs, keeps = [], [], [], [], [], [], [], [], []
    for p in parts:
        live = ~p.deleted
        keep = live[p.chunks.doc]
        renumber = np.cumsum(live) - 1 + len(docs)
        docs += [d for d, ok in zip(p.docs, live) if ok]
        doc.append(renumber[p.chunks.doc[keep]])
        start.append(p.chunks.start[keep])
        end.append(p.chunks.end[keep])
        counts = np.diff(p.sentence_bounds)
        sents.append(p.sentences[np.repeat(live, counts)])
        per_doc.append(counts[live])
        digests.append(p.digests[live])
        vecs.append(p.chunk_vectors()[keep])
        keeps.append(keep)
    cat = lambda xs, t: np.concatenate(xs).astype(t) if xs else np.zeros(0, t)  # noqa: E731
    chunks = ChunkTable(docs, cat(doc, np.int32), cat(start, np.int64), cat(end, np.int64))
    return Segment(
        name, docs, chunks, np.concatenate(sents) if sents else np.zeros((0, 2), np.int32),
        np.concatenate([[0], np.cumsum(cat(per_doc, np.int64))]).astype(np.int64),
        Postings.merge([p.postings for p in parts], keeps), _vectors(np.concatenate(vecs), settings),
        LexCounts.merge([p.lex for p in parts], keeps), np.concatenate(digests), np.zeros(len(docs), dtype=bool))


def to_merge(sizes: Sequence[int], factor: int, floor: int) -> list[int]:
    """Positions of the segments to merge next: those of the smallest tier that has `factor` or more, [] when
    none has."""
    tiers: dict[int, list[int]] = {}
    for i, n in enumerate(sizes):
        tiers.setdefault(0 if n < floor else 1 + int(math.log(n / floor, factor)), []).append(i)
    return next((members for _, members in sorted(tiers.items()) if len(members) >= factor), [])


def _vectors(vectors: np.ndarray, settings: Settings) -> faiss.Index:
    vectors = np.asarray(vectors, dtype=np.float32)
    return dense.build(vectors, settings.hnsw_min_chunks, settings.hnsw_m, settings.hnsw_ef_construction)
