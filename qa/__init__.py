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
from qa.index.store import IndexProblem
from qa.index.sync import Changes, open_index, sync_index
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
