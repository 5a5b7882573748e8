"""The index's Milvus collection (QA_STORE=milvus:PATH.db for Milvus Lite, http://HOST:19530 for a server),
kept in step with the index folder; searching it is qa/index/retrieve.py's `MilvusRetriever`.

The index folder stays a complete index (docs/scale-out.md says why): the record of every document, chunk,
sentence and vector, from which a collection can be rebuilt without embedding anything again, and what the
reader reads. Milvus holds one collection per index, one row per live chunk: its key (`Segment.keys`), the
document's id, date, source and category (for filter expressions), the dense vector and qa's own BM25
document-side weights as a sparse vector (`Postings.weights`, terms keyed by their hash modulo 2^32 - 1).
The question's side carries idf × count, counted at query time over the live chunks of the folder, so N
and df are exact under adds and deletes; avgdl is the one statistic frozen into the rows, which are
written again when it drifts by more than `Settings.milvus_avgdl_drift`.

A collection is kept in step by reconciling, by the folder's writer: the keys it should hold (the live
chunks) against the keys it holds; missing rows are upserted, extra ones deleted. A state collection
records what each index's collection holds, so an index in step costs three small requests to open, and
one left half-pushed (a crash between publishing the folder and pushing) is completed at the next open.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import warnings
from pathlib import Path

import numpy as np
from scipy import sparse

from qa.config import Settings
from qa.index.filters import name_key
from qa.index.store import read_manifest, writer_lock

log = logging.getLogger("qa")
TERM_SPACE = 2**32 - 1  # Milvus takes sparse indices in [0, 2^32 - 2]
STATE = "qa_state"  # one row per index: what its collection holds
TEXT = 65_535  # bytes a VARCHAR may hold
_clients: dict[tuple[str, str], object] = {}
_clients_lock, _push_lock = threading.Lock(), threading.Lock()


class MilvusProblem(ValueError):
    """Milvus cannot be reached or refused a request: said in one line."""


def uri(settings: Settings) -> str:
    """The Milvus address of the store setting (checked by Settings): a Lite file path, or a server URL."""
    if not settings.store.startswith("milvus:"):
        return settings.store
    path = Path(settings.store[len("milvus:"):]).expanduser()
    if path.suffix != ".db":
        raise ValueError(f"QA_STORE=milvus:PATH needs a file ending in .db, not {path.name!r}")
    return str(path.resolve())


def is_lite(settings: Settings) -> bool:
    return settings.store.startswith("milvus:")


def client(settings: Settings):
    """One client per address and process (Milvus Lite lets only one process open a file)."""
    address = uri(settings)
    with _clients_lock:
        if (address, settings.milvus_token) not in _clients:
            try:
                from pymilvus import MilvusClient
            except ImportError:
                raise MilvusProblem("QA_STORE=" + settings.store + " needs pymilvus: pip install -e '.[milvus]'") from None
            if is_lite(settings):
                Path(address).parent.mkdir(parents=True, exist_ok=True)
                logging.getLogger("pymilvus.client.iterator").setLevel(logging.ERROR)  # Lite has no mvccTs: a warning a listing
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


def collection_name(idx) -> str:
    """`Settings.milvus_collection`, else one named after the index's folder (an unsaved index: its corpus)."""
    if idx.settings.milvus_collection:
        return idx.settings.milvus_collection
    path = idx.path
    where = str(Path(path).resolve()) if path else idx.manifest.get("corpus_hash", "")
    stem = re.sub(r"\W", "_", Path(path).name if path else "unsaved", flags=re.ASCII)[:40]
    return f"qa_{stem}_{hashlib.sha1(where.encode()).hexdigest()[:10]}"


# -- keeping a collection in step --------------------------------------------------------------------------
def in_step(idx) -> str:
    """The name of the index's collection, pushed first when it is out of step. Only the newest version of a
    saved index pushes, and only while no writer is at work (the writer pushes when it is done): an older
    version being read never turns the collection back."""
    with _push_lock:
        if idx.path is None:
            return push(idx)
        with writer_lock(idx.path, wait=False) as mine:
            newest = (read_manifest(idx.path) or {}).get("corpus_hash") == idx.manifest.get("corpus_hash")
            return push(idx) if mine and newest else collection_name(idx)


def push(idx) -> str:
    """Reconcile the index's collection with its live chunks (the caller writes the folder, or it is
    unsaved); returns the collection's name."""
    s, c, name, want = idx.settings, client(idx.settings), collection_name(idx), _state(idx)
    try:
        held = _read_state(c, name, s, create=True)
        if held is not None and _same_rows(held, want) and c.has_collection(name, timeout=s.milvus_timeout):
            fits = _same_weights(held, want, s)
            if fits and held["corpus_hash"] == want["corpus_hash"]:
                return name
            have = _all_keys(c, name, s)
            avgdl = held["avgdl"] if fits else want["avgdl"]  # new rows join the old ones', or all are rewritten
        else:  # another model or chunking: a new collection (searches find it empty until it is filled)
            _create(c, name, idx, s)
            have, avgdl, fits = np.zeros(0, np.int64), want["avgdl"], True
        keys = np.concatenate([x.keys for x in idx.segments]) if idx.segments else np.zeros(0, np.int64)
        live = np.ones(len(keys), bool) if idx.live is None else idx.live
        extra = np.setdiff1d(have, keys[live])
        for i in range(0, len(extra), s.milvus_batch_rows):
            c.delete(name, ids=extra[i:i + s.milvus_batch_rows].tolist(), timeout=s.milvus_timeout)
        _insert(c, name, idx, live & (np.isin(keys, have, invert=True) if fits else True), avgdl, s)
        c.flush(name, timeout=s.milvus_timeout)
        c.upsert(STATE, [{"name": name, "state": json.dumps({**want, "avgdl": avgdl}), "v": [0.0, 0.0]}],
                 timeout=s.milvus_timeout)
        return name
    except MilvusProblem:
        raise
    except Exception as e:  # noqa: BLE001 - pymilvus and grpc raise many kinds
        raise MilvusProblem(f"Milvus at {uri(s)} refused to update collection {name}: {_said(e)}") from None


def out_of_step(idx) -> str | None:
    """Why the index's collection does not hold it (None when it does); only reads."""
    s, c, name = idx.settings, client(idx.settings), collection_name(idx)
    try:
        held, want = _read_state(c, name, s), _state(idx)
        if held is None or not c.has_collection(name, timeout=s.milvus_timeout):
            return f"there is no collection {name} yet"
        if not (_same_rows(held, want) and _same_weights(held, want, s) and held["corpus_hash"] == want["corpus_hash"]):
            return f"collection {name} holds another state of the index"
        return None
    except Exception as e:  # noqa: BLE001
        raise MilvusProblem(f"Milvus at {uri(s)} could not be read: {_said(e)}") from None


def drop(idx) -> None:
    """Remove an index's collection and its state row."""
    s, c, name = idx.settings, client(idx.settings), collection_name(idx)
    if c.has_collection(name, timeout=s.milvus_timeout):
        c.drop_collection(name, timeout=s.milvus_timeout)
    if c.has_collection(STATE, timeout=s.milvus_timeout):
        c.delete(STATE, ids=[name], timeout=s.milvus_timeout)


def _state(idx) -> dict:
    m = idx.manifest
    return {"corpus_hash": m.get("corpus_hash"), "model": m.get("model"), "backend": m.get("backend"),
            "chunking": m.get("chunking"), "dimension": m.get("dimension"), "avgdl": round(idx.bm25.avgdl, 4),
            "k1": idx.settings.bm25_k1, "b": idx.settings.bm25_b}


def _same_rows(held: dict, want: dict) -> bool:
    """Whether the collection's rows are of the same vectors and chunks."""
    return all(held.get(k) == want[k] for k in ("model", "backend", "chunking", "dimension"))


def _same_weights(held: dict, want: dict, s: Settings) -> bool:
    """Whether its BM25 rows can stay: the same k1 and b, an avgdl within `milvus_avgdl_drift` of theirs."""
    return (held.get("k1"), held.get("b")) == (want["k1"], want["b"]) and \
        abs(held.get("avgdl", 0) - want["avgdl"]) <= s.milvus_avgdl_drift * want["avgdl"]


def _read_state(c, name: str, s: Settings, create: bool = False) -> dict | None:
    from pymilvus import DataType, MilvusClient

    if not c.has_collection(STATE, timeout=s.milvus_timeout):
        if not create:
            return None
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
    for text in ("doc_id", "source", "category"):
        schema.add_field(text, DataType.VARCHAR, max_length=TEXT)
    schema.add_field("date", DataType.VARCHAR, max_length=10)
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
        w = seg.postings.weights(avgdl, s.bm25_k1, s.bm25_b)
        weights = sparse.csr_matrix((w.data, (seg.postings.terms[w.indices] % TERM_SPACE).astype(np.int64), w.indptr),
                                    shape=(w.shape[0], TERM_SPACE))
        weights.sum_duplicates()  # two terms of one chunk sharing a key add up
        meta = [(_fit(d.id), d.date, _fit(name_key(d.source)), _fit(name_key(str(d.meta.get("category", "")))))
                for d in seg.docs]
        for i in range(0, len(rows), s.milvus_batch_rows):
            part = rows[i:i + s.milvus_batch_rows]
            batch = []
            for r, v in zip(part.tolist(), seg.vectors.reconstruct_batch(part).astype(np.float32)):
                doc_id, date, source, category = meta[seg.chunks.doc[r]]
                a, b = weights.indptr[r], weights.indptr[r + 1]
                batch.append({"id": int(seg.keys[r]), "doc_id": doc_id, "date": date, "source": source,
                              "category": category, "dense": v,
                              "sparse": dict(zip(weights.indices[a:b].tolist(), weights.data[a:b].tolist()))})
            c.upsert(name, batch, timeout=s.milvus_timeout)


def _fit(text: str) -> str:
    """`text` cut to what a VARCHAR field holds (a filter on a longer value then matches nothing)."""
    return text.encode("utf-8")[:TEXT].decode("utf-8", "ignore")


def call(settings: Settings, name: str, request):
    """`request()`, a search of collection `name`; a failure is one MilvusProblem line."""
    try:
        return request()
    except Exception as e:  # noqa: BLE001 - pymilvus raises several kinds; the user needs the one line
        raise MilvusProblem(f"Milvus at {uri(settings)} could not search {name}: {_said(e)}") from None


def _said(e: BaseException) -> str:
    text = (getattr(e, "message", None) or str(e)).strip()
    return text.splitlines()[0][:300] if text else type(e).__name__
