"""Keeping an index in step with its source (a folder, a JSONL file, the page's uploads): new documents are
added, changed ones replaced, removed ones deleted, through `Index.add`, the one way an index changes.
Documents are compared by id and `Document.digest`; only chunks whose text is new are embedded. An index
built with another model, chunking or format is built again, reusing every vector it can.
"""
from __future__ import annotations

import io
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from qa.config import Settings
from qa.index import store
from qa.index.index import Index, build, load
from qa.index.store import CHECKPOINT, FORMAT, NO_INDEX, IndexProblem, read_manifest, stale_reason, writer_lock
from qa.index.vectors import chunk_key
from qa.intake import corpus
from qa.text.split import ChunkTable
from qa.types import Document

log = logging.getLogger("qa")


@dataclass(frozen=True)
class Changes:
    """What a sync did, by document id."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: int = 0
    rebuilt: str = ""  # why the index was built again, when it was

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.rebuilt)

    def __str__(self) -> str:
        def some(ids):
            return f" ({', '.join(ids[:5])}{', …' if len(ids) > 5 else ''})" if ids else ""
        head = f"rebuilt ({self.rebuilt}): " if self.rebuilt else ""
        return (f"{head}{len(self.added):,} added{some(self.added)}, {len(self.changed):,} changed{some(self.changed)}, "
                f"{len(self.removed):,} removed{some(self.removed)}, {self.unchanged:,} unchanged")


def diff(idx: Index, docs: list[Document]) -> Changes:
    """How `docs` differ from what the index holds."""
    have = {d.id: bytes(g) for x in idx.segments for d, g, gone in zip(x.docs, x.digests, x.deleted) if not gone}
    want = {d.id: d for d in docs}
    added = tuple(i for i in want if i not in have)
    changed = tuple(i for i in want if i in have and want[i].digest() != have[i])
    removed = tuple(i for i in have if i not in want)
    return Changes(added, changed, removed, len(want) - len(added) - len(changed))


def update(idx: Index, docs: list[Document], checkpoint: Path | None = None) -> tuple[Index, Changes]:
    """The index holding exactly `docs` (itself when it does already), and what changed."""
    changes = diff(idx, docs)
    if not changes:
        return idx, changes
    want = {d.id: d for d in docs}
    return idx.add([want[i] for i in changes.added + changes.changed], changes.removed, checkpoint), changes


def open_or_build(path: Path, docs: list[Document], settings: Settings, progress: bool = False,
                  source: Path | None = None) -> tuple[Index, Changes]:
    """The index at `path` brought in step with `docs` (`source`: the folder they came from), and what
    changed; built afresh when there is none or it was made with other settings. One process writes at a
    time; another one waits, then finds the work done."""
    path, folder = Path(path), str(Path(source).resolve()) if source else None
    checkpoint = path / CHECKPOINT
    with writer_lock(path):
        try:
            why = stale_reason(read_manifest(path), settings)
            if why is None:
                idx = load(path, settings)
                new, changes = update(idx, docs, checkpoint)
                if new is not idx or idx.manifest.get("corpus_dir") != folder:
                    new.manifest["corpus_dir"] = folder
                    new.save(path, lock=False)
                elif settings.store != "local":
                    new.retriever.push()  # an index first opened with this store fills its collection now
                shutil.rmtree(checkpoint, ignore_errors=True)
                return new, changes
        except IndexProblem as e:
            why = str(e)
        if why != NO_INDEX:
            log.warning("rebuilding the index at %s: %s", path, why)
        idx = build(docs, settings, progress, source, previous_vectors(path, settings), checkpoint)
        idx.save(path, lock=False)
        shutil.rmtree(checkpoint, ignore_errors=True)
        return idx, Changes(added=tuple(d.id for d in docs), rebuilt="" if why == NO_INDEX else why)


def previous_vectors(path: Path, settings: Settings) -> dict[bytes, np.ndarray]:
    """The vectors of the index at `path` by chunk content hash, when it is readable and of the same model:
    a rebuild embeds only what changed. Indexes of format 6 (one set of files) are read too."""
    try:  # only the documents, chunks and vectors are read: their layout is the same in every format
        manifest = read_manifest(path)
        if not manifest or (manifest.get("model"), manifest.get("backend", "torch")) != (settings.embed_model,
                                                                                          settings.embed_backend):
            return {}
        out = {}
        for files in [e["files"] for e in manifest["segments"]] if "segments" in manifest else [manifest["files"]]:
            docs = store.read_docs(path, files["docs"])
            ch = np.load(io.BytesIO(store.verified(path, files["chunks"])), allow_pickle=False)
            vectors = faiss.read_index(str(store.checked(path, files["vectors"])))
            chunks = ChunkTable(docs, ch["doc"], ch["start"], ch["end"])
            if len(chunks) == vectors.ntotal:
                out.update(zip(map(chunk_key, chunks), vectors.reconstruct_n(0, vectors.ntotal)))
        return out
    except Exception:  # noqa: BLE001 - a cache: whatever is wrong with the old index, embed everything
        return {}


def open_index(settings: Settings, folder: str | Path | None = None, progress: bool = False,
               jsonl: str | Path | None = None, limit: int | None = None) -> Index:
    """The index at `settings.index_dir`, kept in step with the folder it indexes (see `sync_index`)."""
    return sync_index(settings, folder, progress, jsonl, limit)[0]


def sync_index(settings: Settings, folder: str | Path | None = None, progress: bool = False,
               jsonl: str | Path | None = None, limit: int | None = None) -> tuple[Index, Changes]:
    """The index at `settings.index_dir`, kept in step with the folder it indexes.

    The folder is `folder` when given (the `index` command), else the one recorded in the index's manifest,
    else `settings.corpus_dir`, plus the documents added through the page (`settings.uploads_dir()`); a
    changed folder syncs (qa/index/sync.py), a changed setting rebuilds. An index built from records, or whose
    folder is gone, is loaded as it is, and one with an unreadable manifest is refused (the default index
    is rebuilt): nothing a user indexed is replaced behind their back.

    With `jsonl` (a .jsonl or .jsonl.gz file of records), the index is brought in step with its first
    `limit` records instead; it is then used as it is until indexed again. Either way only chunks whose
    content changed are embedded. Returns the index and what changed.
    """
    if jsonl is not None:
        return open_or_build(settings.index_dir, _with_uploads(corpus.read_jsonl(jsonl, limit), settings), settings,
                             progress)
    try:
        manifest = read_manifest(settings.index_dir)
    except IndexProblem:
        if folder is None and settings.index_dir != Settings().index_dir:
            raise  # a user's index whose source we cannot know: refuse rather than rebuild it from seeds/
        manifest = None  # open_or_build says why and rebuilds
    if folder is None and manifest is not None:
        recorded = manifest.get("corpus_dir")
        if recorded and Path(recorded).is_dir():
            folder = recorded
        elif settings.index_dir != Settings().index_dir or manifest.get("format") == FORMAT:
            idx = load(settings.index_dir, settings)  # (the default index of an older format is rebuilt)
            return idx, Changes(unchanged=len(idx.docs))
    folder = Path(folder or settings.corpus_dir)
    docs = _with_uploads(corpus.read_folder(folder, settings.parse_seconds)[:limit], settings)
    return open_or_build(settings.index_dir, docs, settings, progress, source=folder)


def _with_uploads(docs: list[Document], settings: Settings) -> list[Document]:
    """`docs` and the documents added through the page, which live beside the index."""
    if not settings.uploads_dir().is_dir():
        return docs
    return corpus.unique(docs + corpus.read_folder(settings.uploads_dir(), settings.parse_seconds))
