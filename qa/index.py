"""The index: chunks, sentences, BM25 postings and faiss vectors of a corpus, built once and persisted
(`qa/store.py`: content-addressed files and an atomically published manifest). The large files (BM25
arrays, vectors) are memory-mapped once verified: loading is quick, and a query brings in only the pages it
reads.
"""
from __future__ import annotations

import dataclasses
import io
import json
import logging
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np

from . import answer as answerer
from . import bm25 as bm25_mod
from . import filters as filters_mod
from . import dense, embed, fuse, read, store
from .config import Settings
from .normalise import clean, fold_aligned, terms
from .split import ChunkTable, indexed_text, sentences
from .store import (CHECKPOINT, FORMAT, NO_INDEX, IndexProblem, corpus_hash, document_record, read_manifest, stale_reason,
                    writer_lock)
from .types import Answer, Document, Hit

log = logging.getLogger("qa")
MODES = ("hybrid", "bm25", "dense")


@dataclass
class Index:
    settings: Settings
    docs: list[Document]
    chunks: ChunkTable
    sentences: np.ndarray  # (n, 2) sentence offsets, document after document
    sentence_bounds: np.ndarray  # (documents + 1,): document i's sentences are sentences[bounds[i]:bounds[i + 1]]
    bm25: bm25_mod.BM25
    vectors: faiss.Index
    lexicon: answerer.Lexicon
    manifest: dict = field(default_factory=dict)
    path: Path | None = None

    def __post_init__(self):
        self._doc_pos = {d.id: i for i, d in enumerate(self.docs)}
        self._lock = threading.Lock()
        self._folded: OrderedDict[str, str] = OrderedDict()  # the most recently read documents'
        self._table: filters_mod.DocTable | None = None  # dates, sources, categories: made at the first filter
        dense.tune(self.vectors, self.settings.hnsw_ef_search)

    # -- query path ---------------------------------------------------------------------------------
    def search(self, question: str, k: int | None = None, mode: str = "hybrid",
               filters: dict | filters_mod.Filters | None = None) -> list[Hit]:
        """The k best chunks for `question`, fused from BM25 and dense pools (see `Settings.pool`), among
        those that pass `filters` (see qa/filters.py: since, until, source, category, doc_ids)."""
        question = check_question(question, self.settings.max_question_chars)
        k = self.settings.k if k is None else int(k)
        if k < 1:
            raise ValueError("k must be at least 1")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        s, pool = self.settings, max(self.settings.pool, k)
        f = filters_mod.parse(filters)
        allowed = self._allowed(f)
        if allowed is not None and not allowed.any():
            return []
        sides, lists, weights = [], [], []
        if mode in ("hybrid", "bm25"):
            sides.append("bm25")
            lists.append(self.bm25.top(terms(answerer.search_text(question)), pool, allowed))
            weights.append(s.bm25_weight)
        if mode in ("hybrid", "dense"):
            sides.append("dense")
            lists.append(dense.top(self.vectors, embed.encode(self.model(), [question], "query")[0], pool, allowed,
                                   s.filter_exact_chunks))
            weights.append(s.dense_weight)
        fused = fuse.rrf(lists, weights, s.rrf_k)
        if window := self._period(question, f):
            dated = filters_mod.in_period(window, self._doc_table())[self.chunks.doc]
            fused.sort(key=lambda x: not dated[x[0]])  # stable: in-period chunks first, each side in fused order
        hits = []
        for i, score, ranks in fused[:k]:
            c, rank, d = self.chunks[i], dict(zip(sides, ranks)), self.chunks.docs[self.chunks.doc[i]]
            hits.append(Hit(c.doc_id, c.title, c.text, c.start, c.end, round(score, 6),
                            rank.get("bm25"), rank.get("dense"), d.date, d.source, d.url))
        return hits

    def ask(self, question: str, k: int | None = None, mode: str = "hybrid",
            filters: dict | filters_mod.Filters | None = None) -> Answer:
        """A short answer with the sentence it comes from and citations, or not found; only from the
        articles that pass `filters`."""
        question = check_question(question, self.settings.max_question_chars)
        f = filters_mod.parse(filters)
        hits = self.search(question, max(k or self.settings.k, self.settings.answer_hits), mode, f)
        top = hits[: self.settings.answer_hits]
        if window := self._period(question, f):  # articles of the period named, if any
            top = [h for h in top if window[0] <= h.date <= window[1]] or top
        candidates = [(h, self.document(h.doc_id).text, self.folded(h.doc_id), self.sentences_in(h)) for h in top]
        ans = None
        if self.settings.reader != "learned":
            ans = answerer.answer(question, candidates, self.idf, self.lexicon, self.settings.min_coverage)
        if self.settings.reader != "rules" and not (ans and ans.found):
            ans = read.answer(self.reader(), question, candidates, self.idf, self.lexicon, self.settings)
        cited = ans.citations + [h for h in hits if h not in ans.citations]  # the answer's passage first
        return dataclasses.replace(ans, citations=cited[: k or self.settings.k])

    def _allowed(self, f: filters_mod.Filters | None) -> np.ndarray | None:
        """The chunks that pass `f` (None: all)."""
        if f is None:
            return None
        return filters_mod.doc_mask(f, self._doc_table())[self.chunks.doc]

    def _period(self, question: str, f: filters_mod.Filters | None) -> tuple[str, str] | None:
        """The publication dates that the period a question names stands for; None when it names none, when
        a date filter is given, or with `period_first` off."""
        if not self.settings.period_first or (f and (f.since or f.until)):
            return None
        span = filters_mod.period(question)
        return filters_mod.dated_window(span, self.settings.period_grace_days) if span else None

    def _doc_table(self) -> filters_mod.DocTable:
        with self._lock:
            if self._table is None:
                self._table = filters_mod.DocTable.of(self.docs)
            return self._table

    def document(self, doc_id: str) -> Document:
        return self.docs[self._doc_pos[doc_id]]

    def sentences_in(self, hit: Hit) -> list[tuple[int, int]]:
        i = self._doc_pos[hit.doc_id]
        spans = self.sentences[self.sentence_bounds[i]:self.sentence_bounds[i + 1]]
        inside = (spans[:, 1] > hit.start) & (spans[:, 0] < hit.end)
        return [(max(int(a), hit.start), min(int(b), hit.end)) for a, b in spans[inside]]

    def folded(self, doc_id: str) -> str:
        """The document's diacritic-free form, offset-aligned with its text; the forms of the
        `Settings.folded_cache_docs` most recently read documents are kept."""
        with self._lock:
            if doc_id in self._folded:
                self._folded.move_to_end(doc_id)
                return self._folded[doc_id]
        text = fold_aligned(self.document(doc_id).text)
        with self._lock:
            self._folded[doc_id] = text
            while len(self._folded) > self.settings.folded_cache_docs:
                self._folded.popitem(last=False)
        return text

    def idf(self, term: str) -> float:
        """How much a question word counts when matching sentences (floored: a common word still counts a little)."""
        return max(self.bm25.idf(term), 0.1)

    def add(self, docs: list[Document], remove: Iterable[str] = ()) -> "Index":
        """A new index with `docs` added (one whose id is already indexed replaces that document) and the
        documents `remove` names taken out. Only the added documents are embedded: every other chunk keeps
        its vector. The index itself is unchanged, so questions being answered from it are not disturbed;
        `save` the new one to keep it."""
        t0, s, docs = time.perf_counter(), self.settings, list(docs)
        replaced = {d.id for d in docs} | set(remove)
        gone = np.asarray([d.id in replaced for d in self.docs], dtype=bool)
        keep = ~gone[self.chunks.doc]
        kept = np.flatnonzero(keep)
        new = ChunkTable.split(docs, s)
        new_vecs = embed.encode_chunks(s, new)
        all_docs = [d for d in self.docs if d.id not in replaced] + docs
        renumber = np.cumsum(~gone) - 1  # old document position -> new
        c = self.chunks
        table = ChunkTable(all_docs, np.concatenate([renumber[c.doc[kept]], new.doc + int((~gone).sum())]),
                           np.concatenate([c.start[kept], new.start]), np.concatenate([c.end[kept], new.end]))
        # everything below but the lexicon reads only the new documents, plus arrays of the kept ones
        sent_doc = np.repeat(np.arange(len(self.docs)), np.diff(self.sentence_bounds))
        new_spans = _sentence_spans(docs)
        per_doc = np.concatenate([np.diff(self.sentence_bounds)[~gone], [len(x) for x in new_spans]])
        sents = np.concatenate([self.sentences[~gone[sent_doc]], *new_spans])
        old, offsets = self.bm25, self.bm25.offsets
        live = [keep[offsets[i]:offsets[i + 1]] & (True if m is None else m) for i, m in enumerate(old.live)]
        postings = bm25_mod.Postings.merge([*old.parts, bm25_mod.Postings.of(terms(indexed_text(c)) for c in new)],
                                           [*live, None])
        bm = bm25_mod.BM25([postings], None, s.bm25_k1, s.bm25_b)
        lexicon = answerer.entity_lexicon(d.text for d in all_docs)  # which bigrams are names is corpus-wide
        if gone.any() or (len(table) >= s.hnsw_min_chunks) != isinstance(self.vectors, faiss.IndexHNSW):
            vectors = dense.build(np.concatenate([self.vectors.reconstruct_n(0, self.vectors.ntotal)[kept], new_vecs]),
                                  s.hnsw_min_chunks, s.hnsw_m, s.hnsw_ef_construction)
        else:  # only additions: the graph or table grows (on a copy: a loaded one is a read-only map)
            vectors = faiss.deserialize_index(faiss.serialize_index(self.vectors))
            vectors.add(new_vecs)
        derived = (sents, np.concatenate([[0], np.cumsum(per_doc)]).astype(np.int64), bm, lexicon)
        idx = _assemble(s, all_docs, table, vectors, self.manifest, t0, derived)
        idx.path = self.path
        return idx

    def model(self):
        return embed.load_model(self.settings)

    def reader(self):
        return read.load_reader(self.settings)

    # -- persistence ----------------------------------------------------------------------------------
    def save(self, path: str | Path, lock: bool = True) -> Path:
        """Write the index under `path`: data files first (new names), then the manifest (atomic rename).
        `lock=False` when the caller already holds `writer_lock(path)`."""
        path = Path(path)
        with writer_lock(path) if lock else nullcontext():
            return self._write(path)

    def _write(self, path: Path) -> Path:
        def docs(f):
            for d in self.docs:
                f.write(json.dumps(document_record(d), ensure_ascii=False).encode() + b"\n")

        c, lex = self.chunks, self.lexicon
        files = {
            "docs": ("docs", ".jsonl", docs),
            "chunks": ("chunks", ".npz", lambda f: f.write(store.npz(
                doc=c.doc, start=c.start, end=c.end, sentences=self.sentences, sentence_bounds=self.sentence_bounds))),
            **{f"bm25_{name}": (f"bm25-{name}", ".npy", lambda f, a=getattr(self.bm25.parts[0], name): np.save(f, a))
               for name in bm25_mod.Postings.ARRAYS},
            "lexicon": ("lexicon", ".json", lambda f: f.write(json.dumps(
                {"names": sorted(lex.names), "places": sorted(lex.places)}, ensure_ascii=False).encode())),
            "vectors": ("vectors", ".faiss", lambda f: f.write(faiss.serialize_index(self.vectors))),
        }
        self.manifest, self.path = store.write_files(path, files, self.manifest), path
        return path


def build(docs: list[Document], settings: Settings, progress: bool = False, source: Path | None = None,
          known: dict[bytes, np.ndarray] | None = None, checkpoint: Path | None = None) -> Index:
    """Chunk, tokenise and embed `docs` into a new in-memory index; `source` is the folder they came from.

    Chunks whose content hash is in `known` (vectors of an earlier build with the same model) are not
    embedded again. With a `checkpoint` folder, every finished batch is written there first, so a run that
    is interrupted resumes where it stopped."""
    t0 = time.perf_counter()
    chunks = ChunkTable.split(docs, settings)
    vecs = embed.encode_chunks(settings, chunks, progress, known, checkpoint, len(docs))
    return _assemble(settings, docs, chunks, vecs, {
        "corpus_dir": str(Path(source).resolve()) if source else None}, t0)


def _assemble(settings: Settings, docs: list[Document], chunks: ChunkTable, vectors: np.ndarray | faiss.Index,
              manifest: dict, t0: float, derived: tuple | None = None) -> Index:
    """An index from documents, their chunks and the chunks' vectors (an array, or a faiss index already
    made). `derived` is (sentences, their bounds, BM25, lexicon) when the caller has them; otherwise they are
    derived here (cheap next to embedding)."""
    if derived is None:
        spans = _sentence_spans(docs)
        bounds = np.cumsum([0] + [len(s) for s in spans], dtype=np.int64)
        bm = bm25_mod.BM25.fit((terms(indexed_text(c)) for c in chunks), settings.bm25_k1, settings.bm25_b)
        derived = (np.concatenate(spans) if spans else np.zeros((0, 2), np.int32), bounds, bm,
                   answerer.entity_lexicon(d.text for d in docs))
    if isinstance(vectors, np.ndarray):
        vectors = dense.build(vectors, settings.hnsw_min_chunks, settings.hnsw_m, settings.hnsw_ef_construction)
    manifest = {**manifest, "model": settings.embed_model, "backend": settings.embed_backend,
                "dimension": int(vectors.d), "chunking": settings.chunking(),
                "bm25": {"k1": settings.bm25_k1, "b": settings.bm25_b},
                "corpus_hash": corpus_hash(docs), "documents": len(docs), "chunks": len(chunks),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "build_seconds": round(time.perf_counter() - t0, 2)}
    sents, bounds, bm, lexicon = derived
    return Index(settings, docs, chunks, sents, bounds, bm, vectors, lexicon, manifest)


def _sentence_spans(docs: list[Document]) -> list[np.ndarray]:
    return [np.asarray(sentences(d.text), dtype=np.int32).reshape(-1, 2) for d in docs]


def load(path: str | Path, settings: Settings | None = None) -> Index:
    """Open a saved index, verifying every file against the manifest; raises IndexProblem on any problem."""
    settings, path = settings or Settings.from_env(), Path(path)
    for attempt in range(3):
        manifest = read_manifest(path)
        try:
            return _open(path, manifest, settings)
        except IndexProblem:  # unless a writer published meanwhile (its old files go): read the new one
            if attempt == 2 or read_manifest(path) == manifest:
                raise


def _open(path: Path, manifest: dict | None, settings: Settings) -> Index:
    if manifest is None:
        raise IndexProblem(f"no index at {path} (build one with: python -m qa index)")
    if manifest.get("format") != FORMAT:
        raise IndexProblem(f"index at {path} has format {manifest.get('format')}, expected {FORMAT}: rebuild it")
    files = manifest["files"]
    if set(files) != {"docs", "chunks", "lexicon", "vectors", *(f"bm25_{a}" for a in bm25_mod.Postings.ARRAYS)}:
        raise IndexProblem(f"index manifest {path / 'manifest.json'} does not list this format's files: rebuild the index")
    try:
        docs = store.read_docs(path, files["docs"])
        ch = np.load(io.BytesIO(store.verified(path, files["chunks"])), allow_pickle=False)
        lex = json.loads(store.verified(path, files["lexicon"]))
        lexicon = answerer.Lexicon(frozenset(lex["names"]), frozenset(lex["places"]))
        postings = bm25_mod.Postings(*(np.load(store.checked(path, files[f"bm25_{a}"]), mmap_mode="r", allow_pickle=False)
                                       for a in bm25_mod.Postings.ARRAYS))
        bm = bm25_mod.BM25([postings], None, settings.bm25_k1, settings.bm25_b)
        vectors = faiss.read_index(str(store.checked(path, files["vectors"])), faiss.IO_FLAG_MMAP_IFC)
    except IndexProblem:
        raise
    except FileNotFoundError:
        raise IndexProblem(f"a file of the index at {path} is missing: rebuild it") from None
    except Exception as e:  # the checksums matched, so this is a foreign or older writer
        raise IndexProblem(f"index at {path} cannot be read ({type(e).__name__}): rebuild it") from None
    chunks = ChunkTable(docs, ch["doc"], ch["start"], ch["end"])
    if (not vectors.ntotal == len(chunks) == postings.n_chunks or len(postings.indptr) != len(postings.terms) + 1
            or len(ch["sentence_bounds"]) != len(docs) + 1 or not len(postings.rows) == len(postings.counts) == postings.indptr[-1]):
        raise IndexProblem(f"index at {path} is inconsistent (its files disagree on counts): rebuild it")
    settings = _settings_of(settings, manifest)
    return Index(settings, docs, chunks, ch["sentences"], ch["sentence_bounds"], bm, vectors, lexicon, manifest, path)


def open_or_build(path: Path, docs: list[Document], settings: Settings, progress: bool = False,
                  source: Path | None = None) -> Index:
    """Load the index at `path` if it was built from these docs with these settings, else (re)build it.
    One process builds at a time; another one waits, then finds the index built."""
    with writer_lock(path):
        try:
            why = stale_reason(read_manifest(path), docs, settings)
            if why is None:
                idx = load(path, settings)
                if source and idx.manifest.get("corpus_dir") != str(Path(source).resolve()):  # the folder moved
                    idx.manifest["corpus_dir"] = str(Path(source).resolve())
                    store.publish(Path(path), idx.manifest)
                return idx
        except IndexProblem as e:
            why = str(e)
        if why != NO_INDEX:
            log.warning("rebuilding the index at %s: %s", path, why)
        checkpoint = Path(path) / CHECKPOINT
        idx = build(docs, settings, progress, source, previous_vectors(path, settings), checkpoint)
        idx.save(path, lock=False)
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
        docs = store.read_docs(path, files["docs"])
        ch = np.load(io.BytesIO(store.verified(path, files["chunks"])), allow_pickle=False)
        vectors = faiss.read_index(str(store.checked(path, files["vectors"])))
        chunks = ChunkTable(docs, ch["doc"], ch["start"], ch["end"])
        if len(chunks) != vectors.ntotal:
            return {}
        return dict(zip(map(embed.chunk_key, chunks), vectors.reconstruct_n(0, vectors.ntotal)))
    except Exception:  # noqa: BLE001 - a cache: whatever is wrong with the old index, embed everything
        return {}


def check_question(question, limit: int) -> str:
    """The question, stripped and cut to `limit` characters; ValueError when it is empty or not text."""
    if not isinstance(question, str):
        raise ValueError("the question must be text")
    question = clean(question).strip()
    if not question:
        raise ValueError("the question is empty: type a question, e.g. \"Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?\"")
    return question[:limit]


def _settings_of(settings: Settings, manifest: dict) -> Settings:
    """The caller's settings with the index's own model and backend, so queries embed like its passages."""
    return dataclasses.replace(settings, embed_model=manifest.get("model", settings.embed_model),
                               embed_backend=manifest.get("backend", "torch"))

