"""The index's search in Milvus (QA_STORE=milvus:PATH.db for Milvus Lite, http://HOST:19530 for a server).

The index folder stays what it is everywhere (docs/scale-out.md says why): the record of every document,
chunk, sentence and vector, from which a collection can be rebuilt without embedding anything again, and
what the reader reads. Milvus holds one collection per index, one row per live chunk: a key, the document's
id, date, source and category (for filter expressions), the dense vector and qa's own BM25 document-side
weights as a sparse vector (tf / (tf + k1 (1 - b + b len / avgdl)) for each syllable, bigram and folded
term, keyed by a 32-bit term hash). The question's side carries idf × count, counted at query time over the
live chunks of the folder, so df and N are exact under adds and deletes; avgdl is the one statistic frozen
into the rows, and they are written again when it drifts by more than `Settings.milvus_avgdl_drift`.

A collection is kept in step by reconciling: the keys it should hold (the live chunks) against the keys it
holds; missing rows are upserted, extra ones deleted. A small state collection records which corpus each
index's collection holds, so an index already in step costs one query to open, and one left half-pushed by
a crash is completed the next time it is opened or saved.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
import warnings
from contextlib import nullcontext
from pathlib import Path

import numpy as np
from scipy import sparse

from .bm25 import BM25
from .config import Settings
from .filters import Filters, name_key

TERM_SPACE = 2**32 - 1  # Milvus takes sparse indices in [0, 2^32 - 2]
STATE = "qa_state"  # one row per index: which corpus its collection holds
_clients: dict[tuple[str, str], object] = {}
_clients_lock, _push_lock = threading.Lock(), threading.Lock()


class MilvusProblem(ValueError):
    """Milvus cannot be reached or refused a request: said in one line."""


def uri(settings: Settings) -> str:
    """The Milvus address of a store setting: a Lite file path, or a server URL."""
    store = settings.store
    if store.startswith("milvus:"):
        path = Path(store[len("milvus:"):]).expanduser()
        if path.suffix != ".db":
            raise ValueError(f"QA_STORE=milvus:PATH needs a file ending in .db, not {path.name!r}")
        return str(path.resolve())
    if re.match(r"https?://", store):
        return store
    raise ValueError(f"QA_STORE must be local, milvus:PATH.db or http://HOST:19530, not {store!r}")


def is_lite(settings: Settings) -> bool:
    return settings.store.startswith("milvus:")


def client(settings: Settings):
    """One client per address and process (Milvus Lite lets only one process open a file)."""
    address = uri(settings)
    with _clients_lock:
        if (address, settings.milvus_token) not in _clients:
            from pymilvus import MilvusClient

            if is_lite(settings):
                Path(address).parent.mkdir(parents=True, exist_ok=True)
            try:
                with warnings.catch_warnings():  # milvus-lite 2.5.1 imports the deprecated pkg_resources
                    warnings.simplefilter("ignore", UserWarning)
                    _clients[address, settings.milvus_token] = MilvusClient(address, token=settings.milvus_token,
                                                                            timeout=settings.milvus_timeout)
            except Exception as e:  # noqa: BLE001 - pymilvus raises several kinds; the user needs the one line
                hint = (" (Milvus Lite lets one process open a file: is a page or another command using it? "
                        "Several processes need a Milvus server)") if is_lite(settings) else ""
                raise MilvusProblem(f"cannot open Milvus at {address}: {_said(e)}{hint}") from None
        return _clients[address, settings.milvus_token]


def close(settings: Settings) -> None:
    """Close this process's client of the store (Milvus Lite's file can then be opened by another)."""
    with _clients_lock:
        c = _clients.pop((uri(settings), settings.milvus_token), None)
    if c is not None:
        c.close()


def collection_name(path: Path | None, manifest: dict) -> str:
    """The collection of the index saved at `path` (of an unsaved one: of its corpus)."""
    where = str(Path(path).resolve()) if path else manifest.get("corpus_hash", "")
    stem = re.sub(r"\W", "_", Path(path).name if path else "unsaved", flags=re.ASCII)[:40]
    return f"qa_{stem}_{hashlib.sha1(where.encode()).hexdigest()[:10]}"


def chunk_keys(seg) -> np.ndarray:
    """A segment's chunk keys (int64 ≥ 0): from the document's digest and the chunk's offsets, so a chunk
    keeps its key through merges and a changed document's chunks get new ones. Cached on the segment."""
    if getattr(seg, "_keys", None) is None:
        ch = seg.chunks
        seg._keys = np.fromiter(
            (int.from_bytes(hashlib.blake2b(bytes(seg.digests[d]) + int(a).to_bytes(8, "little") +
                                            int(b).to_bytes(8, "little"), digest_size=8).digest(), "little") >> 1
             for d, a, b in zip(ch.doc.tolist(), ch.start.tolist(), ch.end.tolist())), dtype=np.int64, count=len(ch))
    return seg._keys


# -- keeping a collection in step --------------------------------------------------------------------------
def ensure(idx) -> str:
    """The name of the index's collection, brought in step with it first if it is not (once per index object)."""
    with _push_lock if idx._milvus is None else nullcontext():
        if idx._milvus is None:
            idx._milvus = push(idx)
    return idx._milvus


def push(idx) -> str:
    """Reconcile the index's collection with its live chunks; returns the collection's name."""
    s, c = idx.settings, client(idx.settings)
    name, want = collection_name(idx.path, idx.manifest), _state(idx)
    try:
        held = _read_state(c, name, s)
        if held is not None and _compatible(held, want, s) and c.has_collection(name, timeout=s.milvus_timeout):
            if held["corpus_hash"] == want["corpus_hash"]:
                return name
            avgdl, have = held["avgdl"], _all_keys(c, name, s)  # new rows join the old ones' avgdl
        else:
            _create(c, name, idx, s)
            avgdl, have = want["avgdl"], np.zeros(0, np.int64)
        keys = np.concatenate([chunk_keys(x) for x in idx.segments]) if idx.segments else np.zeros(0, np.int64)
        live = keys if idx.live is None else keys[idx.live]
        extra = np.setdiff1d(have, live)
        for i in range(0, len(extra), s.milvus_batch_rows):
            c.delete(name, ids=extra[i:i + s.milvus_batch_rows].tolist(), timeout=s.milvus_timeout)
        _insert(c, name, idx, np.isin(keys, have, invert=True) & (True if idx.live is None else idx.live), avgdl, s)
        c.flush(name, timeout=s.milvus_timeout)
        state = json.dumps({**want, "avgdl": avgdl})
        c.upsert(STATE, [{"name": name, "state": state, "v": [0.0, 0.0]}], timeout=s.milvus_timeout)
        return name
    except MilvusProblem:
        raise
    except Exception as e:  # noqa: BLE001
        raise MilvusProblem(f"Milvus at {uri(s)} refused to update collection {name}: {_said(e)}") from None


def out_of_step(idx) -> str | None:
    """Why the index's collection does not hold it (None when it does); only reads."""
    s, c, name = idx.settings, client(idx.settings), collection_name(idx.path, idx.manifest)
    try:
        if not c.has_collection(name, timeout=s.milvus_timeout):
            return f"there is no collection {name} yet"
        held, want = _read_state(c, name, s), _state(idx)
        if held is None or not _compatible(held, want, s) or held["corpus_hash"] != want["corpus_hash"]:
            return f"collection {name} holds another state of the index"
        return None
    except Exception as e:  # noqa: BLE001
        raise MilvusProblem(f"Milvus at {uri(s)} could not be read: {_said(e)}") from None


def drop(settings: Settings, path: Path | None, manifest: dict) -> None:
    """Remove an index's collection and its state row."""
    c, name = client(settings), collection_name(path, manifest)
    if c.has_collection(name, timeout=settings.milvus_timeout):
        c.drop_collection(name, timeout=settings.milvus_timeout)
    if c.has_collection(STATE, timeout=settings.milvus_timeout):
        c.delete(STATE, ids=[name], timeout=settings.milvus_timeout)


def _state(idx) -> dict:
    m = idx.manifest
    return {"corpus_hash": m.get("corpus_hash"), "model": m.get("model"), "backend": m.get("backend"),
            "chunking": m.get("chunking"), "dimension": m.get("dimension"), "avgdl": round(idx.bm25.avgdl, 4),
            "k1": idx.settings.bm25_k1, "b": idx.settings.bm25_b}


def _compatible(held: dict, want: dict, s: Settings) -> bool:
    """Whether the rows of a collection in state `held` can stay for `want` (else it is written anew): the
    same model, chunking and BM25 parameters, and an avgdl within `milvus_avgdl_drift` of theirs."""
    same = all(held.get(k) == want[k] for k in ("model", "backend", "chunking", "dimension", "k1", "b"))
    return same and abs(held.get("avgdl", 0) - want["avgdl"]) <= s.milvus_avgdl_drift * want["avgdl"]


def _read_state(c, name: str, s: Settings) -> dict | None:
    from pymilvus import DataType, MilvusClient

    if not c.has_collection(STATE, timeout=s.milvus_timeout):
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("name", DataType.VARCHAR, is_primary=True, max_length=256)
        schema.add_field("state", DataType.VARCHAR, max_length=4096)
        schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector in every collection
        params = c.prepare_index_params()
        params.add_index(field_name="v", index_type="FLAT", metric_type="L2")
        c.create_collection(STATE, schema=schema, index_params=params, timeout=s.milvus_timeout)
    rows = c.query(STATE, filter=f"name == {json.dumps(name)}", output_fields=["state"], timeout=s.milvus_timeout)
    return json.loads(rows[0]["state"]) if rows else None


def _create(c, name: str, idx, s: Settings) -> None:
    from pymilvus import DataType, MilvusClient

    if c.has_collection(name, timeout=s.milvus_timeout):
        c.drop_collection(name, timeout=s.milvus_timeout)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=1024)
    schema.add_field("date", DataType.VARCHAR, max_length=10)
    schema.add_field("source", DataType.VARCHAR, max_length=1024)
    schema.add_field("category", DataType.VARCHAR, max_length=1024)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=int(idx.manifest.get("dimension") or 384))
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    params = c.prepare_index_params()
    if is_lite(s):  # Lite 2.5 knows FLAT and IVF_FLAT only: exact, like the local store below 50,000 chunks
        params.add_index(field_name="dense", index_type="FLAT", metric_type="IP")
    else:
        params.add_index(field_name="dense", index_type="HNSW", metric_type="IP",
                         params={"M": s.hnsw_m, "efConstruction": s.hnsw_ef_construction})
    params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    c.create_collection(name, schema=schema, index_params=params, timeout=s.milvus_timeout)


def _all_keys(c, name: str, s: Settings) -> np.ndarray:
    it = c.query_iterator(name, batch_size=s.milvus_batch_rows, filter="", output_fields=["id"],
                          timeout=s.milvus_timeout)
    out = []
    while batch := it.next():
        out.extend(r["id"] for r in batch)
    it.close()
    return np.asarray(out, dtype=np.int64)


def _insert(c, name: str, idx, todo: np.ndarray, avgdl: float, s: Settings) -> None:
    """Upsert the rows of the chunk positions `todo` marks, segment by segment, in batches; BM25 weights
    with `avgdl`."""
    for seg, o in zip(idx.segments, idx.chunk_offsets):
        rows = np.flatnonzero(todo[o:o + len(seg.chunks)])
        if not len(rows):
            continue
        weights = doc_weights(seg.postings, avgdl, s.bm25_k1, s.bm25_b)
        keys, ch = chunk_keys(seg), seg.chunks
        meta = [(d.id, d.date, name_key(d.source), name_key(str(d.meta.get("category", "")))) for d in seg.docs]
        for i in range(0, len(rows), s.milvus_batch_rows):
            part = rows[i:i + s.milvus_batch_rows]
            vecs = seg.vectors.reconstruct_batch(part).astype(np.float32)
            batch = []
            for r, v in zip(part.tolist(), vecs):
                doc_id, date, source, category = meta[ch.doc[r]]
                a, b = weights.indptr[r], weights.indptr[r + 1]
                batch.append({"id": int(keys[r]), "doc_id": doc_id, "date": date, "source": source,
                              "category": category, "dense": v,
                              "sparse": dict(zip(weights.indices[a:b].tolist(), weights.data[a:b].tolist()))})
            c.upsert(name, batch, timeout=s.milvus_timeout)


def doc_weights(p, avgdl: float, k1: float, b: float) -> sparse.csr_matrix:
    """Each chunk's BM25 document-side weights by 32-bit term hash (a CSR matrix, a row a chunk): the local
    store's per-term score without the query's idf."""
    counts = sparse.csc_matrix((p.counts.astype(np.float32), p.rows, p.indptr), shape=(p.n_chunks, len(p.terms)))
    m = counts.tocsr()
    tf = m.data
    norm = np.float32(k1) * (np.float32(1 - b) + np.float32(b / max(avgdl, 1e-9)) * p.lengths)
    m.data = tf / (tf + np.repeat(norm, np.diff(m.indptr)))
    m.indices = (p.terms[m.indices] % TERM_SPACE).astype(np.int64)
    out = sparse.csr_matrix((m.data, m.indices, m.indptr), shape=(p.n_chunks, TERM_SPACE))
    out.sum_duplicates()  # two terms of one chunk sharing a 32-bit hash: their weights add
    return out


def query_weights(bm25: BM25, query: list[str]) -> dict[int, float]:
    """The question's side: idf × count of each of its terms present in the live chunks."""
    hashes, weights = bm25.query_weights(query)
    out: dict[int, float] = {}
    for h, w in zip((hashes % TERM_SPACE).tolist(), weights.tolist()):
        out[h] = out.get(h, 0.0) + w
    return out


# -- searching ---------------------------------------------------------------------------------------------
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


def search(idx, sides: dict, n: int, f: Filters | None) -> dict[str, list[int]]:
    """Chunk positions from Milvus, a ranked list for each side given: "dense" (the question's vector),
    "bm25" (its `query_weights`)."""
    c, name, expr = client(idx.settings), ensure(idx), expression(f)
    out = {}
    for side, data in sides.items():
        field, param = _request(idx.settings, side, n)
        if side == "bm25" and not data:
            out[side] = []
            continue
        found = _call(idx, name, lambda: c.search(name, [data], anns_field=field, limit=n, filter=expr,
                                                  output_fields=["id"], search_params=param,
                                                  timeout=idx.settings.milvus_timeout)[0])
        out[side] = [p for h in found if (p := position(idx, h["id"])) is not None]
    return out


def hybrid(idx, sides: dict, n: int, f: Filters | None) -> list[tuple[int, float, list[int | None]]]:
    """Both sides fused by Milvus (`hybrid_search` with RRFRanker(rrf_k), which knows no side weights), as
    fuse.rrf gives them: (position, score, ranks: unknown)."""
    from pymilvus import AnnSearchRequest, RRFRanker

    s, c, name, expr = idx.settings, client(idx.settings), ensure(idx), expression(f)
    reqs = [AnnSearchRequest([data], *_request(s, side, n), n, expr=expr or None) for side, data in sides.items()
            if data is not None and (side == "dense" or len(data))]
    found = _call(idx, name, lambda: c.hybrid_search(name, reqs, RRFRanker(s.rrf_k), limit=2 * n, output_fields=["id"],
                                                     timeout=s.milvus_timeout)[0]) if reqs else []
    return [(p, float(h["distance"]), [None] * len(sides)) for h in found if (p := position(idx, h["id"])) is not None]


def _request(s: Settings, side: str, n: int) -> tuple[str, dict]:
    if side == "bm25":
        return "sparse", {"metric_type": "IP"}
    return "dense", {"metric_type": "IP"} if is_lite(s) else {"metric_type": "IP", "params": {"ef": max(s.hnsw_ef_search, n)}}


def _call(idx, name: str, request):
    try:
        return request()
    except Exception as e:  # noqa: BLE001 - pymilvus raises several kinds; the user needs the one line
        raise MilvusProblem(f"Milvus at {uri(idx.settings)} could not search {name}: {_said(e)}") from None


def position(idx, k: int) -> int | None:
    """The chunk position of a Milvus key (None for a row the index no longer has, e.g. mid-reconcile)."""
    if getattr(idx, "_key_positions", None) is None:  # one attribute: threads see both arrays or neither
        keys = np.concatenate([chunk_keys(x) for x in idx.segments]) if idx.segments else np.zeros(0, np.int64)
        order = np.argsort(keys)
        idx._key_positions = (keys[order], order)
    ordered, order = idx._key_positions
    i = int(np.searchsorted(ordered, k))
    if i < len(ordered) and ordered[i] == k:
        pos = int(order[i])
        return pos if idx.live is None or idx.live[pos] else None
    return None


def _said(e: Exception) -> str:
    return (getattr(e, "message", None) or str(e)).splitlines()[0][:300]
