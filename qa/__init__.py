"""Vietnamese hybrid search with cited answers.

    import qa
    qa.search("Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?", k=5)   # list[Hit]
    qa.ask("Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?")           # Answer: "3 tỷ đồng", sentence, citations
    idx = qa.build_index("my_articles/", path="my_index")      # or an iterable of {"id", "title", "text"}
    idx = qa.load("my_index"); idx.search(q, k); idx.ask(q)

`search` and `ask` use the default index over `seeds/`, built on first use and rebuilt when the corpus or
a setting it depends on changes.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

from qa.config import READERS, Settings
from qa.index.index import MODES, Index, build
from qa.index.index import load as _load
from qa.index.store import FORMAT, IndexProblem, read_manifest
from qa.index.sync import Changes, open_or_build
from qa.intake import corpus
from qa.types import Answer, Chunk, Document, Hit

__all__ = ["MODES", "READERS", "search", "ask", "build_index", "load", "default_index", "open_index", "sync_index", "Changes",
           "Index", "IndexProblem", "Settings",
           "Document", "Chunk", "Hit", "Answer"]

_default: Index | None = None
_default_lock = threading.Lock()


def default_index(settings: Settings | None = None) -> Index:
    """The index over the configured corpus folder (`seeds/` by default), loaded or built once per process."""
    global _default
    with _default_lock:
        if _default is None or settings is not None:
            settings = settings or Settings.from_env()
            _default = open_index(settings)
        return _default


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
            idx = _load(settings.index_dir, settings)  # (the default index of an older format is rebuilt)
            return idx, Changes(unchanged=len(idx.docs))
    folder = Path(folder or settings.corpus_dir)
    docs = _with_uploads(corpus.read_folder(folder, settings.parse_seconds)[:limit], settings)
    return open_or_build(settings.index_dir, docs, settings, progress, source=folder)


def _with_uploads(docs: list[Document], settings: Settings) -> list[Document]:
    """`docs` and the documents added through the page, which live beside the index."""
    if not settings.uploads_dir().is_dir():
        return docs
    return corpus.unique(docs + corpus.read_folder(settings.uploads_dir(), settings.parse_seconds))


def search(question: str, k: int = 5, mode: str = "hybrid") -> list[Hit]:
    """The k passages of the default index that best match `question`."""
    return default_index().search(question, k, mode)


def ask(question: str, k: int = 5, mode: str = "hybrid") -> Answer:
    """The short answer to `question` from the default index, with its sentence and citations."""
    return default_index().ask(question, k, mode)


def build_index(docs: str | Path | Iterable[dict], path: str | Path | None = None,
                settings: Settings | None = None, progress: bool = False) -> Index:
    """Index a folder of .txt/.md files or an iterable of {"id", "title", "text"} dicts; save it at `path`."""
    settings = settings or Settings.from_env()
    documents = (corpus.read_folder(docs, settings.parse_seconds) if isinstance(docs, (str, Path))
                 else corpus.from_records(docs))
    idx = build(documents, settings, progress, source=Path(docs) if isinstance(docs, (str, Path)) else None)
    if path is not None:
        idx.save(path)
    return idx


def load(path: str | Path, settings: Settings | None = None) -> Index:
    """Open a saved index (every file is checked against its manifest)."""
    return _load(path, settings)
