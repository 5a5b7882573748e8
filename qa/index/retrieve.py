"""Retrievers: where the two sides of a question (BM25 terms, a dense vector) are searched, among the chunks
that pass the filters, and fused. `Index.retriever` is chosen once from `Settings.store`: the index's own
arrays (`LocalRetriever`), or its Milvus collection (`MilvusRetriever`), which returns the same chunks; the
index keeps building, segments and persistence either way (as Haystack 2 keeps retriever and store apart).
"""
from __future__ import annotations

import json
import logging
import threading
from typing import Protocol

import numpy as np

from qa.config import Settings
from qa.index import dense, fuse, milvus
from qa.index.bm25 import BM25
from qa.index.filters import Filters

log = logging.getLogger("qa")
Fused = list[tuple[int, float, list[int | None]]]  # chunk position, fused score, its rank on each side


class Retriever(Protocol):
    def retrieve(self, query: dict, pool: int, f: Filters | None) -> Fused:
        """The `pool` best chunks of each side of `query` ("bm25": terms, "dense": a vector) that pass `f`, fused."""

    def push(self) -> None:
        """Bring the store in step with the index, whose folder the caller has just written."""


def retriever_for(idx) -> Retriever:
    return LocalRetriever(idx) if idx.settings.store == "local" else MilvusRetriever(idx)


class LocalRetriever:
    """BM25 over the index's segments and their HNSW graphs, in this process."""

    def __init__(self, idx):
        self.idx = idx

    def retrieve(self, query: dict, pool: int, f: Filters | None) -> Fused:
        idx, s = self.idx, self.idx.settings
        allowed = idx.allowed(f)
        if allowed is not None and not allowed.any():
            return []
        lists = [idx.bm25.top(q, pool, allowed) if side == "bm25" else
                 dense.search([x.vectors for x in idx.segments], idx.chunk_offsets, q, pool, allowed, s.filter_exact_chunks)
                 for side, q in query.items()]
        return fuse.rrf(lists, weights(query, s), s.rrf_k)

    def push(self) -> None:
        pass


class MilvusRetriever:
    """The index's Milvus collection (qa/index/milvus.py), brought in step at the first search; Milvus keys
    are mapped back to the index's chunk positions."""

    def __init__(self, idx):
        self.idx, self.name, self.positions = idx, None, None
        self.lock = threading.Lock()

    def retrieve(self, query: dict, pool: int, f: Filters | None) -> Fused:
        s = self.idx.settings
        sides = {side: query_weights(self.idx.bm25, q) if side == "bm25" else q for side, q in query.items()}
        if s.milvus_fusion == "milvus" and len(sides) == 2:
            return self.hybrid(sides, pool, f)
        lists = self.search(sides, pool, f)
        return fuse.rrf([lists[side] for side in query], weights(query, s), s.rrf_k)

    def push(self) -> None:
        """The folder is published first: when Milvus fails, it is said and the next open pushes."""
        try:
            self.name = milvus.push(self.idx)
        except milvus.MilvusProblem as e:
            log.warning("%s; the index at %s is saved, and its next open brings Milvus in step", e, self.idx.path)

    def collection(self) -> str:
        """The collection's name, brought in step once per index object."""
        with self.lock:
            if self.name is None:
                self.name = milvus.in_step(self.idx)
            return self.name

    def search(self, sides: dict, n: int, f: Filters | None) -> dict[str, list[int]]:
        """Chunk positions from Milvus, a ranked list for each side given: "dense" (the question's vector),
        "bm25" (its `query_weights`)."""
        s, name, expr = self.idx.settings, self.collection(), expression(f)
        c = milvus.client(s)
        out = {}
        for side, data in sides.items():
            field, param = request(s, side, n)
            found = milvus.call(s, name, lambda: c.search(name, [data], anns_field=field, limit=n, filter=expr,
                                                          output_fields=["id"], search_params=param,
                                                          timeout=s.milvus_timeout)[0]) if len(data) else []
            out[side] = [p for h in found if (p := self.position(h["id"])) is not None]
        return out

    def hybrid(self, sides: dict, n: int, f: Filters | None) -> Fused:
        """Both sides fused by Milvus (`hybrid_search` with RRFRanker(rrf_k), which knows no side weights), as
        fuse.rrf gives them: (position, score, ranks: unknown)."""
        from pymilvus import AnnSearchRequest, RRFRanker

        s, name, expr = self.idx.settings, self.collection(), expression(f)
        c = milvus.client(s)
        reqs = [AnnSearchRequest([data], *request(s, side, n), n, expr=expr or None) for side, data in sides.items() if len(data)]
        found = milvus.call(s, name, lambda: c.hybrid_search(name, reqs, RRFRanker(s.rrf_k), limit=2 * n, output_fields=["id"],
                                                             timeout=s.milvus_timeout)[0]) if reqs else []
        return [(p, float(h["distance"]), [None] * len(sides)) for h in found if (p := self.position(h["id"])) is not None]

    def position(self, key: int) -> int | None:
        """The live chunk position of a Milvus key (None for a row the index does not hold, e.g. mid-push)."""
        if self.positions is None:  # one attribute: threads see both arrays or neither
            idx = self.idx
            keys = np.concatenate([x.keys for x in idx.segments]) if idx.segments else np.zeros(0, np.int64)
            live = np.flatnonzero(idx.live) if idx.live is not None else np.arange(len(keys))
            order = live[np.argsort(keys[live])]  # a re-added article's dead copy shares its keys: live ones only
            self.positions = (keys[order], order)
        ordered, order = self.positions
        i = int(np.searchsorted(ordered, key))
        return int(order[i]) if i < len(ordered) and ordered[i] == key else None


def weights(query: dict, s: Settings) -> list[float]:
    return [s.bm25_weight if side == "bm25" else s.dense_weight for side in query]


def query_weights(bm25: BM25, query: list[str]) -> dict[int, float]:
    """The question's side: idf × count of each of its terms present in the live chunks, by term key."""
    hashes, w = bm25.query_weights(query)
    out: dict[int, float] = {}
    for h, x in zip((hashes % milvus.TERM_SPACE).tolist(), w.tolist()):
        out[h] = out.get(h, 0.0) + x
    return out


def expression(f: Filters | None) -> str:
    """Filters as a Milvus filter expression (strings written as JSON literals: quotes and backslashes escaped)."""
    if f is None:
        return ""
    parts = []
    if f.since or f.until:
        parts.append('date != ""')
    if f.since:
        parts.append(f"date >= {json.dumps(f.since)}")
    if f.until:
        parts.append(f"date <= {json.dumps(f.until)}")
    for field_name, values in (("source", f.sources), ("category", f.categories), ("doc_id", f.doc_ids)):
        if values:
            parts.append(f"{field_name} in {json.dumps(list(values), ensure_ascii=False)}")
    return " and ".join(parts)


def request(s: Settings, side: str, n: int) -> tuple[str, dict]:
    """The field and search parameters of one side."""
    if side == "bm25":
        return "sparse", {"metric_type": "IP"}
    return "dense", {"metric_type": "IP"} if milvus.is_lite(s) else {"metric_type": "IP", "params": {"ef": max(s.hnsw_ef_search, n)}}
