"""The index: chunks, sentences, BM25 weights and faiss vectors of a corpus, built once and persisted.

On disk a folder holds content-addressed files and `manifest.json`, written last by an atomic rename; the
manifest names the model, dimension, chunking, corpus hash and each file's size and sha256, so a reader
never sees a half-written index and a damaged or mismatched file is refused with a one-line message.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
from scipy import sparse
from tqdm import tqdm

from . import answer as answerer
from . import bm25 as bm25_mod
from . import dense, embed, fuse
from .config import Settings
from .normalise import fold_aligned, terms
from .split import chunk, sentences
from .types import Answer, Chunk, Document, Hit

log = logging.getLogger("qa")
FORMAT = 3
KEY_BYTES = 16  # of a chunk's content hash
CHECKPOINT = ".partial"  # inside an index folder: batches embedded by a run that has not finished yet
MODES = ("hybrid", "bm25", "dense")
NO_INDEX = "no index yet"


class IndexProblem(ValueError):
    """An index that cannot be used (missing, damaged, or built differently); the message is one line."""


class ChunkTable(Sequence):
    """The chunks of an index as three arrays (document, start, end) over the documents' text; a `Chunk` is
    made when one is asked for, so a large index holds no second copy of every passage."""

    def __init__(self, docs: list[Document], doc: np.ndarray, start: np.ndarray, end: np.ndarray):
        self.docs, self.doc, self.start, self.end = docs, doc.astype(np.int32), start.astype(np.int64), end.astype(np.int64)

    @classmethod
    def of(cls, docs: list[Document], chunks: list[Chunk]) -> "ChunkTable":
        pos = {d.id: i for i, d in enumerate(docs)}
        return cls(docs, np.asarray([pos[c.doc_id] for c in chunks], dtype=np.int32),
                   np.asarray([c.start for c in chunks], dtype=np.int64), np.asarray([c.end for c in chunks], dtype=np.int64))

    def __len__(self) -> int:
        return len(self.doc)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        d, a, b = self.docs[self.doc[i]], int(self.start[i]), int(self.end[i])
        return Chunk(d.id, d.title, d.text[a:b], a, b)


@dataclass
class Index:
    settings: Settings
    docs: list[Document]
    chunks: ChunkTable
    sentence_spans: list[np.ndarray]  # per document, (n, 2) sentence offsets
    bm25: bm25_mod.BM25
    vectors: faiss.Index
    lexicon: answerer.Lexicon
    manifest: dict = field(default_factory=dict)
    path: Path | None = None

    def __post_init__(self):
        self._doc_pos = {d.id: i for i, d in enumerate(self.docs)}
        self._lock = threading.Lock()
        self._folded: dict[str, str] = {}
        dense.tune(self.vectors, self.settings.hnsw_ef_search)

    # -- query path ---------------------------------------------------------------------------------
    def search(self, question: str, k: int | None = None, mode: str = "hybrid") -> list[Hit]:
        """The k best chunks for `question`, fused from BM25 and dense pools (see `Settings.pool`)."""
        question = check_question(question, self.settings.max_question_chars)
        k = self.settings.k if k is None else int(k)
        if k < 1:
            raise ValueError("k must be at least 1")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        s, pool = self.settings, max(self.settings.pool, k)
        sides, lists, weights = [], [], []
        if mode in ("hybrid", "bm25"):
            sides.append("bm25")
            lists.append(self.bm25.top(terms(answerer.search_text(question)), pool))
            weights.append(s.bm25_weight)
        if mode in ("hybrid", "dense"):
            sides.append("dense")
            lists.append(dense.top(self.vectors, embed.encode(self.model(), [question], "query")[0], pool))
            weights.append(s.dense_weight)
        hits = []
        for i, score, ranks in fuse.rrf(lists, weights, s.rrf_k)[:k]:
            c, rank = self.chunks[i], dict(zip(sides, ranks))
            hits.append(Hit(c.doc_id, c.title, c.text, c.start, c.end, round(score, 6),
                            rank.get("bm25"), rank.get("dense")))
        return hits

    def ask(self, question: str, k: int | None = None, mode: str = "hybrid") -> Answer:
        """A short answer with the sentence it comes from and citations, or not found."""
        question = check_question(question, self.settings.max_question_chars)
        hits = self.search(question, max(k or self.settings.k, self.settings.answer_hits), mode)
        candidates = [(h, self.document(h.doc_id).text, self.folded(h.doc_id), self.sentences_in(h))
                      for h in hits[: self.settings.answer_hits]]
        ans = answerer.answer(question, candidates, self.idf, self.lexicon, self.settings.min_coverage)
        cited = ans.citations + [h for h in hits if h not in ans.citations]  # the answer's passage first
        return dataclasses.replace(ans, citations=cited[: k or self.settings.k])

    def document(self, doc_id: str) -> Document:
        return self.docs[self._doc_pos[doc_id]]

    def sentences_in(self, hit: Hit) -> list[tuple[int, int]]:
        spans = self.sentence_spans[self._doc_pos[hit.doc_id]]
        inside = (spans[:, 1] > hit.start) & (spans[:, 0] < hit.end)
        return [(max(int(a), hit.start), min(int(b), hit.end)) for a, b in spans[inside]]

    def folded(self, doc_id: str) -> str:
        """The document's diacritic-free form, offset-aligned with its text; computed once per document."""
        if doc_id not in self._folded:
            self._folded[doc_id] = fold_aligned(self.document(doc_id).text)
        return self._folded[doc_id]

    def idf(self, term: str) -> float:
        """How much a question word counts when matching sentences (floored: a common word still counts a little)."""
        return max(self.bm25.idf(term), 0.1)

    def add(self, docs: list[Document]) -> "Index":
        """A new index with `docs` added; one whose id is already indexed replaces that document. Only the
        added documents are embedded: every other chunk keeps its vector. The index itself is unchanged, so
        questions being answered from it are not disturbed; `save` the new one to keep it."""
        t0 = time.perf_counter()
        replaced = {d.id for d in docs}
        gone = np.asarray([d.id in replaced for d in self.docs], dtype=bool)
        kept = np.flatnonzero(~gone[self.chunks.doc])
        new_chunks = [c for d in docs for c in chunk(d, self.settings.chunk_size, self.settings.chunk_overlap)]
        vecs = np.concatenate([self.vectors.reconstruct_n(0, self.vectors.ntotal)[kept],
                               _embed(self.model(), new_chunks, self.settings)])
        all_docs = [d for d in self.docs if d.id not in replaced] + list(docs)
        idx = _assemble(self.settings, all_docs, [self.chunks[i] for i in kept] + new_chunks, vecs, self.manifest, t0)
        idx.path = self.path
        return idx

    def model(self):
        with self._lock:
            return embed.load_model(self.settings)

    # -- persistence ----------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the index under `path`: data files first (new names), then the manifest (atomic rename)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        w = self.bm25.weights
        files = {
            "docs": _atomic_write(path, "docs", ".jsonl", "\n".join(
                json.dumps({"id": d.id, "title": d.title, "text": d.text}, ensure_ascii=False) for d in self.docs
            ).encode()),
            "chunks": _atomic_write(path, "chunks", ".npz", _npz(
                doc=self.chunks.doc, start=self.chunks.start, end=self.chunks.end,
                sent_count=np.asarray([len(s) for s in self.sentence_spans], dtype=np.int64),
                sentences=np.concatenate(self.sentence_spans).astype(np.int64) if self.docs else np.zeros((0, 2), np.int64))),
            "bm25": _atomic_write(path, "bm25", ".npz", _npz(
                terms=self.bm25.terms, data=w.data, indices=w.indices, indptr=w.indptr, shape=np.asarray(w.shape))),
            "lexicon": _atomic_write(path, "lexicon", ".json", json.dumps(
                {"names": sorted(self.lexicon.names), "places": sorted(self.lexicon.places)}, ensure_ascii=False).encode()),
            "vectors": _atomic_write(path, "vectors", ".faiss", faiss.serialize_index(self.vectors).tobytes()),
        }
        manifest = {**self.manifest, "format": FORMAT, "files": files}
        tmp = path / f".manifest.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, path / "manifest.json")
        keep = {f["name"] for f in files.values()} | {"manifest.json"}
        for old in path.iterdir():  # files of earlier builds, no longer referenced
            if old.name not in keep and not old.name.startswith("."):
                old.unlink(missing_ok=True)
        self.manifest, self.path = manifest, path
        return path


def build(docs: list[Document], settings: Settings, progress: bool = False, source: Path | None = None,
          known: dict[bytes, np.ndarray] | None = None, checkpoint: Path | None = None) -> Index:
    """Chunk, tokenise and embed `docs` into a new in-memory index; `source` is the folder they came from.

    Chunks whose content hash is in `known` (vectors of an earlier build with the same model) are not
    embedded again. With a `checkpoint` folder, every finished batch is written there first, so a run that
    is interrupted resumes where it stopped."""
    t0 = time.perf_counter()
    chunks = [c for d in docs for c in chunk(d, settings.chunk_size, settings.chunk_overlap)]
    model = embed.load_model(settings)
    vecs = _embed(model, chunks, settings, progress, known, checkpoint, len(docs))
    return _assemble(settings, docs, chunks, vecs, {
        "corpus_dir": str(Path(source).resolve()) if source else None}, t0)


def chunk_key(c: Chunk) -> bytes:
    """The content hash of what a chunk's vector is computed from."""
    return hashlib.sha1(_indexed_text(c).encode("utf-8")).digest()[:KEY_BYTES]


def _embed(model, chunks: list[Chunk], settings: Settings, progress: bool = False,
           known: dict[bytes, np.ndarray] | None = None, checkpoint: Path | None = None, n_docs: int = 0) -> np.ndarray:
    """Vectors of `chunks`, reusing `known` ones and those a previous, interrupted run left in `checkpoint`;
    the others are embedded longest first (batches of similar lengths pad least)."""
    dim = embed.dimension(model)
    known = dict(known or {})
    if checkpoint is not None:
        known.update(read_checkpoint(checkpoint, settings, dim))
    keys = [chunk_key(c) for c in chunks]
    todo = sorted({k: i for i, k in enumerate(keys) if k not in known}.values(), key=lambda i: -len(chunks[i].text))
    bar = tqdm(total=len(todo), unit="chunk", disable=not progress or not todo, smoothing=0.1,
               desc=f"embedding {n_docs:,} documents, {len(chunks):,} chunks ({len(chunks) - len(todo):,} unchanged)")
    tokens, t0 = 0, time.perf_counter()
    for s in range(0, len(todo), settings.checkpoint_chunks):
        part = todo[s:s + settings.checkpoint_chunks]
        texts = [_indexed_text(chunks[i]) for i in part]
        vecs = embed.encode(model, texts, "passage", settings.batch_size)
        if checkpoint is not None:
            write_checkpoint(checkpoint, settings, [keys[i] for i in part], vecs)
        known.update(zip((keys[i] for i in part), vecs))
        if progress:
            tokens += embed.count_tokens(model, texts)
            bar.update(len(part))
            bar.set_postfix_str(f"{tokens / (time.perf_counter() - t0):,.0f} tokens/s")
    bar.close()
    return np.stack([known[k] for k in keys]).astype(np.float32) if keys else np.zeros((0, dim), np.float32)


def write_checkpoint(folder: Path, settings: Settings, keys: list[bytes], vecs: np.ndarray) -> None:
    """One finished batch of an indexing run, written atomically (a torn file is never read back)."""
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_write(folder, _embedder_tag(settings), ".npz",
                  _npz(keys=np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(-1, KEY_BYTES),  # not "S16":
                       vectors=vecs.astype(np.float32)))  # numpy strips a bytes string's trailing zeros


def read_checkpoint(folder: Path, settings: Settings, dim: int) -> dict[bytes, np.ndarray]:
    """Vectors that a previous run with the same model and backend left behind; a damaged batch is skipped."""
    out: dict[bytes, np.ndarray] = {}
    for f in sorted(folder.glob(f"{_embedder_tag(settings)}-*.npz")) if folder.is_dir() else []:
        try:
            with np.load(f, allow_pickle=False) as z:
                keys, vecs = z["keys"], z["vectors"]
            if vecs.shape[1:] == (dim,) and keys.shape == (len(vecs), KEY_BYTES):
                out.update(zip(map(bytes, keys), vecs))
        except Exception:  # noqa: BLE001 - whatever is wrong with it, those chunks are embedded again
            log.warning("ignored a damaged checkpoint file %s", f)
    return out


def _embedder_tag(settings: Settings) -> str:
    return "emb-" + hashlib.sha1(f"{settings.embed_model}|{settings.embed_backend}".encode()).hexdigest()[:8]


def _assemble(settings: Settings, docs: list[Document], chunks: list[Chunk], vecs: np.ndarray, manifest: dict,
              t0: float) -> Index:
    """An index from documents, their chunks and the chunks' vectors: sentences, BM25 and the lexicon are
    derived here (cheap next to embedding)."""
    spans = [np.asarray(sentences(d.text), dtype=np.int64).reshape(-1, 2) for d in docs]
    bm = bm25_mod.BM25.fit((terms(_indexed_text(c)) for c in chunks), settings.bm25_k1, settings.bm25_b)
    manifest = {**manifest, "model": settings.embed_model, "backend": settings.embed_backend,
                "dimension": int(vecs.shape[1]), "chunking": settings.chunking(),
                "bm25": {"k1": settings.bm25_k1, "b": settings.bm25_b},
                "corpus_hash": corpus_hash(docs), "documents": len(docs), "chunks": len(chunks),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "build_seconds": round(time.perf_counter() - t0, 2)}
    vectors = dense.build(vecs, settings.hnsw_min_chunks, settings.hnsw_m, settings.hnsw_ef_construction)
    return Index(settings, docs, ChunkTable.of(docs, chunks), spans, bm, vectors,
                 answerer.entity_lexicon(d.text for d in docs), manifest)


def load(path: str | Path, settings: Settings | None = None) -> Index:
    """Open a saved index, verifying every file against the manifest; raises IndexProblem on any problem."""
    settings = settings or Settings.from_env()
    path = Path(path)
    manifest = read_manifest(path)
    if manifest is None:
        raise IndexProblem(f"no index at {path} (build one with: python -m qa index)")
    if manifest.get("format") != FORMAT:
        raise IndexProblem(f"index at {path} has format {manifest.get('format')}, expected {FORMAT}: rebuild it")
    raw = {role: _verified(path, meta) for role, meta in manifest["files"].items()}
    try:
        docs = [Document(**json.loads(line)) for line in raw["docs"].decode("utf-8").splitlines() if line]
        ch = np.load(io.BytesIO(raw["chunks"]), allow_pickle=False)
        bz = np.load(io.BytesIO(raw["bm25"]), allow_pickle=False)
        lex = json.loads(raw["lexicon"])
        lexicon = answerer.Lexicon(frozenset(lex["names"]), frozenset(lex["places"]))
        vectors = faiss.deserialize_index(np.frombuffer(raw["vectors"], dtype=np.uint8))
    except Exception as e:  # the checksums matched, so this is a foreign or older writer
        raise IndexProblem(f"index at {path} cannot be read ({type(e).__name__}): rebuild it") from None
    chunks = ChunkTable(docs, ch["doc"], ch["start"], ch["end"])
    bounds, sents = np.cumsum(np.concatenate([[0], ch["sent_count"]])), ch["sentences"]  # (an npz re-reads per access)
    spans = [sents[bounds[i]:bounds[i + 1]] for i in range(len(docs))]
    weights = sparse.csc_matrix((bz["data"], bz["indices"], bz["indptr"]), shape=tuple(bz["shape"]))
    bm = bm25_mod.BM25(bz["terms"], weights)
    if vectors.ntotal != len(chunks) or weights.shape[0] != len(chunks):
        raise IndexProblem(f"index at {path} is inconsistent (chunk counts differ): rebuild it")
    settings = _settings_of(settings, manifest)
    return Index(settings, docs, chunks, spans, bm, vectors, lexicon, manifest, path)


def open_or_build(path: Path, docs: list[Document], settings: Settings, progress: bool = False,
                  source: Path | None = None) -> Index:
    """Load the index at `path` if it was built from these docs with these settings, else (re)build it."""
    try:
        why = stale_reason(read_manifest(path), docs, settings)
        if why is None:
            return load(path, settings)
    except IndexProblem as e:
        why = str(e)
    if why != NO_INDEX:
        log.warning("rebuilding the index at %s: %s", path, why)
    checkpoint = Path(path) / CHECKPOINT
    idx = build(docs, settings, progress, source, previous_vectors(path, settings), checkpoint)
    idx.save(path)
    shutil.rmtree(checkpoint, ignore_errors=True)
    return idx


def previous_vectors(path: Path, settings: Settings) -> dict[bytes, np.ndarray]:
    """The vectors of the index at `path` by chunk content hash, when it is readable and of the same model:
    an update embeds only what changed."""
    try:  # only the documents, chunks and vectors are read: their layout is the same in every format
        manifest = read_manifest(path)
        if not manifest or (manifest.get("model"), manifest.get("backend", "torch")) != (settings.embed_model,
                                                                                          settings.embed_backend):
            return {}
        files = manifest["files"]
        docs = [Document(**json.loads(line)) for line in _verified(path, files["docs"]).decode("utf-8").splitlines() if line]
        ch = np.load(io.BytesIO(_verified(path, files["chunks"])), allow_pickle=False)
        vectors = faiss.deserialize_index(np.frombuffer(_verified(path, files["vectors"]), dtype=np.uint8))
        chunks = ChunkTable(docs, ch["doc"], ch["start"], ch["end"])
        if len(chunks) != vectors.ntotal:
            return {}
        return dict(zip(map(chunk_key, chunks), vectors.reconstruct_n(0, vectors.ntotal)))
    except Exception:  # noqa: BLE001 - a cache: whatever is wrong with the old index, embed everything
        return {}


def stale_reason(manifest: dict | None, docs: list[Document], settings: Settings) -> str | None:
    """Why an index with this manifest does not fit these docs and settings; None when it fits."""
    if manifest is None:
        return NO_INDEX
    if manifest.get("format") != FORMAT:
        return f"it was written in format {manifest.get('format')}, this version reads {FORMAT}"
    checks = [("model", settings.embed_model), ("chunking", settings.chunking()),
              ("bm25", {"k1": settings.bm25_k1, "b": settings.bm25_b}), ("corpus_hash", corpus_hash(docs))]
    if manifest.get("backend", "torch") != settings.embed_backend:
        return "its embedding backend changed"
    for key, want in checks:
        if manifest.get(key) != want:
            return f"its {key.replace('_', ' ')} changed"
    return None


def read_manifest(path: Path) -> dict | None:
    """The manifest of the index at `path`; None when there is none; IndexProblem when it is unreadable."""
    try:
        manifest = json.loads((Path(path) / "manifest.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError):
        raise IndexProblem(f"index manifest {Path(path) / 'manifest.json'} is unreadable: rebuild the index") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise IndexProblem(f"index manifest {Path(path) / 'manifest.json'} is not an index manifest: rebuild the index")
    return manifest


def corpus_hash(docs: list[Document]) -> str:
    """What the documents say, whatever their order (uploads come in upload order, folders sorted by name)."""
    h = hashlib.sha256()
    for d in sorted(docs, key=lambda d: d.id):
        for part in (d.id, d.title, d.text):
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
    return h.hexdigest()


def check_question(question, limit: int) -> str:
    """The question, stripped and cut to `limit` characters; ValueError when it is empty or not text."""
    if not isinstance(question, str):
        raise ValueError("the question must be text")
    question = question.strip()
    if not question:
        raise ValueError("the question is empty: type a question, e.g. \"Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?\"")
    return question[:limit]


def _indexed_text(c: Chunk) -> str:
    """What BM25 and the embedder see: the title gives a passage its context."""
    return c.text if c.text.startswith(c.title) else f"{c.title}\n{c.text}"


def _settings_of(settings: Settings, manifest: dict) -> Settings:
    """The caller's settings with the index's own model and backend, so queries embed like its passages."""
    return dataclasses.replace(settings, embed_model=manifest.get("model", settings.embed_model),
                               embed_backend=manifest.get("backend", "torch"))


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _atomic_write(folder: Path, stem: str, suffix: str, data: bytes) -> dict:
    """Write `data` as `<stem>-<sha8><suffix>` via a temp file and rename; returns its manifest entry."""
    digest = hashlib.sha256(data).hexdigest()
    name = f"{stem}-{digest[:12]}{suffix}"
    target = folder / name
    if not (target.exists() and target.stat().st_size == len(data)):
        fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", dir=folder)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    return {"name": name, "size": len(data), "sha256": digest}


def _verified(folder: Path, meta: dict) -> bytes:
    target = folder / meta["name"]
    try:
        data = target.read_bytes()
    except OSError:
        raise IndexProblem(f"index file {target} is missing: rebuild the index") from None
    if len(data) != meta["size"] or hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise IndexProblem(f"index file {target} is damaged (size or checksum differs): rebuild the index")
    return data
