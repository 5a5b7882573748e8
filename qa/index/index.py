"""The index: the segments of a corpus (qa/index/segment.py) seen as one, searched through its retriever
(qa/index/retrieve.py) and answered by its reader (qa/answer/readers.py). Saved, it is a
folder of immutable segment files and a manifest (qa/index/store.py); the large files (BM25 arrays, vectors) are
memory-mapped once verified: loading is quick, and a query brings in only the pages it reads. Adding
documents makes a new segment, deleting marks documents in their segment's tombstone, and segments are
merged by size tiers (`Settings.merge_factor`); BM25 statistics and the lexicon are counted over the live
documents of all segments, so results are those of one index freshly built from them.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.answer import generate as generation
from qa.answer.readers import reader_for
from qa.config import Settings
from qa.index import bm25 as bm25_mod
from qa.index import dense, lexicon, segment, store, vectors
from qa.index import filters as filters_mod
from qa.index.retrieve import retriever_for
from qa.index.segment import Segment
from qa.index.store import FORMAT, IndexProblem, corpus_hash, read_manifest, writer_lock
from qa.models import embed
from qa.text.normalise import fold_aligned
from qa.text.question import Question, analyse, check_question
from qa.text.split import ChunkTable
from qa.types import Answer, Document, Hit

MODES = ("hybrid", "bm25", "dense")
LOAD_ATTEMPTS = 20  # a loader whose files a writer removed reads the new manifest, as long as they keep changing


@dataclass
class Index:
    settings: Settings
    segments: list[Segment]
    manifest: dict = field(default_factory=dict)
    path: Path | None = None

    def __post_init__(self):
        """The segments seen as one: documents and chunks numbered through them in order (deleted ones keep
        their place), BM25 and the lexicon over their live chunks."""
        segs, s = self.segments, self.settings
        cat = lambda xs, t: np.concatenate(xs).astype(t) if xs else np.zeros(0, t)  # noqa: E731
        doc_offsets = np.cumsum([0] + [len(x.docs) for x in segs])
        self.chunk_offsets = np.cumsum([0] + [len(x.chunks) for x in segs])
        every = [d for x in segs for d in x.docs]
        self.doc_live = cat([~x.deleted for x in segs], bool)
        self.chunks = ChunkTable(every, cat([x.chunks.doc + o for x, o in zip(segs, doc_offsets)], np.int32),
                                 cat([x.chunks.start for x in segs], np.int64), cat([x.chunks.end for x in segs], np.int64))
        sent_offsets = np.cumsum([0] + [len(x.sentences) for x in segs])
        self.sentences = np.concatenate([x.sentences for x in segs]) if segs else np.zeros((0, 2), np.int32)
        self.sentence_bounds = cat([x.sentence_bounds[:-1] + o for x, o in zip(segs, sent_offsets)] + [sent_offsets[-1:]],
                                   np.int64)
        self.docs = [d for d, ok in zip(every, self.doc_live) if ok]  # the live documents
        self._doc_pos = {every[i].id: i for i in np.flatnonzero(self.doc_live)}
        self.bm25 = bm25_mod.BM25([x.postings for x in segs], [x.live_chunks for x in segs], s.bm25_k1, s.bm25_b,
                                    s.bm25_sliced_from_chunks)
        self.live = self.bm25.live_mask  # which chunks are not deleted (None: all), through every segment
        self.lexicon = lexicon.lexicon([x.lex for x in segs], self.bm25)
        for x in segs:
            dense.tune(x.vectors, s.hnsw_ef_search)
        self._lock = threading.Lock()
        self.retriever = retriever_for(self)  # its own arrays, or Milvus (qa/index/retrieve.py)
        self.reader = reader_for(s)  # rules, the learned reader, or both in turn (qa/answer/readers.py)
        self._folded: OrderedDict[str, str] = OrderedDict()  # the most recently read documents'
        self._table: filters_mod.DocTable | None = None  # dates, sources, categories: made at the first filter

    # -- query path ---------------------------------------------------------------------------------
    def search(self, question: str, k: int | None = None, mode: str = "hybrid",
               filters: dict | filters_mod.Filters | None = None) -> list[Hit]:
        """The k best chunks for `question`, fused from BM25 and dense pools (see `Settings.pool`), among
        those that pass `filters` (see qa/index/filters.py: since, until, source, category, doc_ids)."""
        q, f = self.read(question), filters_mod.parse(filters)
        return self._search(q, k, mode, f, self._period(q, f))

    def read(self, question: str) -> Question:
        """The question checked (cut to `max_question_chars`) and read once: the typed `Question` that the
        retriever's query and the readers are made from (qa/text/question.py)."""
        return analyse(check_question(question, self.settings.max_question_chars), self.idf, self.lexicon)

    def _search(self, q: Question, k: int | None, mode: str, f: filters_mod.Filters | None,
                window: tuple[str, str] | None) -> list[Hit]:
        """`search` for a question read, its filters parsed and the period it names found."""
        k = self.settings.k if k is None else int(k)
        if k < 1:
            raise ValueError("k must be at least 1")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        pool = max(self.settings.pool, k)
        query = {}
        if mode in ("hybrid", "bm25"):
            query["bm25"] = q.terms
        if mode in ("hybrid", "dense"):
            query["dense"] = embed.encode(self.model(), [q.text], "query")[0]
        sides = list(query)
        fused = self.retriever.retrieve(query, pool, f)
        if window:
            dated = filters_mod.in_period(window, self._doc_table())[self.chunks.doc]
            fused.sort(key=lambda x: not dated[x[0]])  # stable: in-period chunks first, each side in fused order
        hits = []
        for i, score, ranks in fused[:k]:
            c, rank, d = self.chunks[i], dict(zip(sides, ranks)), self.chunks.docs[self.chunks.doc[i]]
            hits.append(Hit(c.doc_id, c.title, c.text, c.start, c.end, round(score, 6),
                            rank.get("bm25"), rank.get("dense"), d.date, d.source, d.url))
        return hits

    def ask(self, question: str, k: int | None = None, mode: str = "hybrid",
            filters: dict | filters_mod.Filters | None = None, generate: bool = True) -> Answer:
        """A short answer with the sentence it comes from and citations, or not found; only from the
        articles that pass `filters`. With a language model set (`Settings.llm_url`) and `generate`, also
        its answer from the citations, checked (qa/answer/generate.py)."""
        q, f = self.read(question), filters_mod.parse(filters)
        window = self._period(q, f)
        hits = self._search(q, max(k or self.settings.k, self.settings.answer_hits), mode, f, window)
        top = hits[: self.settings.answer_hits]
        if window:  # articles of the period named, if any
            top = [h for h in top if window[0] <= h.date <= window[1]] or top
        candidates = [(h, self.document(h.doc_id).text, self.folded(h.doc_id), self.sentences_in(h)) for h in top]
        ans = self.reader.answer(q, candidates, self.lexicon)
        cited = ans.citations + [h for h in hits if h not in ans.citations]  # the answer's passage first
        ans = dataclasses.replace(ans, citations=cited[: k or self.settings.k])
        return generation.answer(self.settings, q.text, ans) if generate else ans

    def ask_stream(self, question: str, k: int | None = None, mode: str = "hybrid",
                   filters: dict | filters_mod.Filters | None = None) -> Iterator[dict]:
        """`ask`, with the model's answer as it is written: {"token": text} events, then {"answer": Answer}
        (only that without a model)."""
        ans = self.ask(question, k, mode, filters, generate=False)
        return generation.stream(self.settings, ans.question, ans)

    def allowed(self, f: filters_mod.Filters | None) -> np.ndarray | None:
        """The live chunks that pass `f` (None: all chunks)."""
        if f is None:
            return self.live
        return (filters_mod.doc_mask(f, self._doc_table()) & self.doc_live)[self.chunks.doc]

    def _period(self, q: Question, f: filters_mod.Filters | None) -> tuple[str, str] | None:
        """The publication dates that the period a question names stands for; None when it names none, when
        a date filter is given, or with `period_first` off."""
        if not self.settings.period_first or (f and (f.since or f.until)):
            return None
        span = filters_mod.period(q.folded)
        return filters_mod.dated_window(span, self.settings.period_grace_days) if span else None

    def _doc_table(self) -> filters_mod.DocTable:
        with self._lock:
            if self._table is None:
                self._table = filters_mod.DocTable.of(self.chunks.docs)
            return self._table

    def document(self, doc_id: str) -> Document:
        return self.chunks.docs[self._doc_pos[doc_id]]

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

    def add(self, docs: list[Document], remove: Iterable[str] = (), checkpoint: Path | None = None,
            progress: bool = False) -> "Index":
        """A new index with `docs` added as a new segment (one whose id is already indexed replaces that
        document) and the documents `remove` names marked deleted; segments are then merged as the size tiers
        say. Only chunks whose text is new are embedded (checkpointed in `checkpoint`, when given). The index
        itself is unchanged, so questions being answered from it are not disturbed; `save` the new one to keep
        it (only what changed is written)."""
        t0, s, docs = time.perf_counter(), self.settings, list(docs)
        gone = {d.id for d in docs} | set(remove)
        segs, known = [], {}
        for old in self.segments:
            new = old.delete(gone)
            if new is not old:  # the deleted chunks' vectors: a replaced document's unchanged chunks keep theirs
                rows = np.flatnonzero((new.deleted & ~old.deleted)[old.chunks.doc])
                known.update(zip((vectors.chunk_key(old.chunks[int(r)]) for r in rows), old.vectors.reconstruct_batch(rows)))
            if new.size:
                segs.append(new)
        if docs:
            chunks = ChunkTable.split(docs, s)
            segs.append(segment.make(self._name(1), docs, chunks, vectors.encode_chunks(s, chunks, progress, known, checkpoint, len(docs)), s))
        return self._merged(segs, t0)

    def optimize(self) -> "Index":
        """A new index of one segment, without deleted documents (itself when it is that already)."""
        if len(self.segments) == 1 and self.live is None:
            return self
        t0 = time.perf_counter()
        return self._with([segment.merge(self._name(1), self.segments, self.settings)] if self.docs else [], t0, 1)

    def _merged(self, segs: list[Segment], t0: float) -> "Index":
        """An index of `segs`, merged while one size tier holds `merge_factor` segments."""
        s, made = self.settings, 1
        while picks := segment.to_merge([x.size for x in segs], s.merge_factor, s.merge_floor_chunks):
            made += 1
            merged = segment.merge(self._name(made), [segs[i] for i in picks], s)
            segs = [merged if i == picks[0] else x for i, x in enumerate(segs) if i == picks[0] or i not in picks]
        return self._with(segs, t0, made)

    def _name(self, n: int) -> str:
        """The name of the n-th segment made from this index (names are never reused in a folder)."""
        return f"s{self.manifest.get('next_segment', 0) + n:06d}"

    def _with(self, segs: list[Segment], t0: float, made: int) -> "Index":
        idx = assemble(self.settings, segs, {**self.manifest, "next_segment": self.manifest.get("next_segment", 0) + made}, t0)
        idx.path = self.path
        return idx

    def model(self):
        return embed.load_model(self.settings)

    # -- persistence ----------------------------------------------------------------------------------
    def save(self, path: str | Path, lock: bool = True) -> Path:
        """Write the index under `path`: data files first (new names), then the manifest (atomic rename).
        `lock=False` when the caller already holds `writer_lock(path)`."""
        path = Path(path)
        with writer_lock(path) if lock else nullcontext():
            return self._write(path)

    def _write(self, path: Path) -> Path:
        self.manifest, self.path = store.save(path, self.segments, self.manifest), path
        self.retriever.push()
        return path


def build(docs: list[Document], settings: Settings, progress: bool = False, source: Path | None = None,
          known: dict[bytes, np.ndarray] | None = None, checkpoint: Path | None = None) -> Index:
    """Chunk, tokenise and embed `docs` into a new in-memory index of one segment; `source` is the folder
    they came from.

    Chunks whose content hash is in `known` (vectors of an earlier build with the same model) are not
    embedded again. With a `checkpoint` folder, every finished batch is written there first, so a run that
    is interrupted resumes where it stopped."""
    t0 = time.perf_counter()
    chunks = ChunkTable.split(docs, settings)
    vecs = vectors.encode_chunks(settings, chunks, progress, known, checkpoint, len(docs))
    segs = [segment.make(f"s{1:06d}", docs, chunks, vecs, settings)] if docs else []
    return assemble(settings, segs, {"corpus_dir": str(Path(source).resolve()) if source else None,
                                      "dimension": int(vecs.shape[1]), "next_segment": 1}, t0)


def assemble(settings: Settings, segs: list[Segment], manifest: dict, t0: float) -> Index:
    """An index of `segs`, its manifest saying what it holds and how it was made."""
    live = [x.digests[~x.deleted] for x in segs]
    manifest = {**manifest, "model": settings.embed_model, "backend": settings.embed_backend,
                "dimension": int(segs[0].vectors.d) if segs else manifest.get("dimension"),
                "chunking": settings.chunking(), "corpus_hash": corpus_hash([bytes(d) for x in live for d in x]),
                "documents": sum(len(x) for x in live), "chunks": sum(x.size for x in segs),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "build_seconds": round(time.perf_counter() - t0, 2)}
    return Index(settings, segs, manifest)


def load(path: str | Path, settings: Settings | None = None, reuse: Index | None = None) -> Index:
    """Open a saved index, verifying every file against the manifest; raises IndexProblem on any problem.
    Segments of `reuse` (an index of the same folder loaded earlier) that the manifest still names with the
    same files are taken as they are: reloading after a sync reads only what changed."""
    settings, path = settings or Settings.from_env(), Path(path)
    have = {x.name: x for x in reuse.segments} if reuse is not None and reuse.path == path else {}
    for attempt in range(LOAD_ATTEMPTS):
        manifest = read_manifest(path)
        try:
            if manifest is None:
                raise IndexProblem(f"no index at {path} (build one with: python -m qa index)")
            if manifest.get("format") != FORMAT:
                raise IndexProblem(f"index at {path} has format {manifest.get('format')}, expected {FORMAT}: rebuild it")
            segs = [_reused(have.get(e["name"]), e, path) or store.read_segment(path, e) for e in manifest["segments"]]
            return Index(_settings_of(settings, manifest), segs, manifest, path)
        except IndexProblem:  # unless a writer published meanwhile (its old files go): read the new one
            if attempt == LOAD_ATTEMPTS - 1 or read_manifest(path) == manifest:
                raise


def _reused(seg: Segment | None, entry: dict, path: Path) -> Segment | None:
    """`seg` as the manifest entry describes it (its tombstone read again if that changed), or None when
    the entry names other files."""
    if seg is None or seg.files != entry.get("files"):
        return None
    if seg.tombstone == entry.get("tombstone") or (not seg.deleted.any() and not entry.get("tombstone")):
        return seg
    deleted = store.read_tombstone(path, entry, len(seg.docs))
    return dataclasses.replace(seg, deleted=deleted, tombstone=entry.get("tombstone"))


def _settings_of(settings: Settings, manifest: dict) -> Settings:
    """The caller's settings with the index's own model and backend, so queries embed like its passages."""
    return dataclasses.replace(settings, embed_model=manifest.get("model", settings.embed_model),
                               embed_backend=manifest.get("backend", "torch"))

