"""The index a server answers from, and the one way to change it, shared by the page and the JSON API.

Adding documents builds a new index beside the current one (only the new articles are embedded), saves it,
then swaps it in, so people asking meanwhile are never answered from a half-updated index. Added articles
are kept in the uploads folder beside the index (files as they came; records as Markdown with front matter),
which is read with the corpus at every start, so a rebuild keeps them.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from qa.answer import followup, generate
from qa.config import Settings
from qa.index.index import load
from qa.index.store import IndexProblem, read_manifest, replace_atomic, writer_lock
from qa.index.sync import open_index
from qa.intake import corpus
from qa.text.normalise import fold
from qa.types import Answer, Document, Hit

log = logging.getLogger("qa")
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")  # what a record's id may be: it names a file


@dataclass(frozen=True)
class Added:
    """What became of one file or record: "added", "duplicate" (the same text is indexed as `doc_id`) or
    "rejected" (`reason` says why)."""

    name: str
    status: str
    doc_id: str = ""
    title: str = ""
    reason: str = ""


class NotRemovable(ValueError):
    """The article comes from the indexed folder: it goes when its file does."""


class Library:
    """The current index of a server, and the one way to add documents to it or remove them."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.index = open_index(settings)
        self._adding = threading.Lock()
        self._parser = corpus.Parser()  # kept: an upload does not wait for a worker to start
        self._seen = _stamp(self.index.path)

    def ask(self, question: str, k: int, mode: str, filters: dict | None = None, history: list[str] = ()) -> Answer:
        """The answer to `question`, read as a follow-up of `history` (earlier questions) when it is one."""
        return self.fresh().ask(followup.rewrite(question, list(history), self.settings), int(k), mode, filters)

    def ask_stream(self, question: str, k: int, mode: str, filters: dict | None = None,
                   history: list[str] = ()) -> Iterator[dict]:
        """`ask` as events: {"read": Answer, "index": Index}, the reader's answer (its `question` is the
        question as read, a follow-up rewritten) and the index it came from (whose documents the citations
        point into), then those of `generate.stream`: {"token": text} as a language model writes, and last
        {"answer": Answer}. A bad question or filter raises here, before the first event."""
        meant = followup.rewrite(question, list(history), self.settings)
        idx = self.fresh()
        ans = idx.ask(meant, int(k), mode, filters, generate=False)
        return itertools.chain([{"read": ans, "index": idx}], generate.stream(self.settings, ans.question, ans))

    def search(self, question: str, k: int, mode: str, filters: dict | None = None) -> list[Hit]:
        return self.fresh().search(question, int(k), mode, filters)

    def fresh(self):
        """The index, reloaded when another process (`python -m qa sync --watch`, another server) published
        a new version: only its new segments and tombstones are read. A version that cannot be read is
        reported and the one loaded kept."""
        stamp = _stamp(self.index.path)
        if stamp == self._seen or not self._adding.acquire(blocking=False):  # an add in this process will reload
            return self.index
        try:
            self._current(self.index.path)
        except IndexProblem as e:
            log.warning("kept the index loaded: %s", e)
        finally:
            self._seen = stamp
            self._adding.release()
        return self.index

    def sources(self) -> list[str]:
        """The newspapers and sites the indexed articles name, for the page's filter."""
        return sorted({d.source for d in self.index.docs if d.source})

    def categories(self) -> list[str]:
        """The categories (a `category` field in the articles' metadata), for the page's filter."""
        return sorted({str(d.meta["category"]) for d in self.index.docs if d.meta.get("category")})

    def add(self, files: list[tuple[str, bytes]]) -> list[Added]:
        """Index (file name, content) uploads, each read by its format's reader; a .jsonl(.gz) file gives one
        result a record."""
        read = []
        for name, data in files:
            if not corpus.is_records(name):
                read.append((name, _read(self._from_file, name, data), data))
                continue
            records = _read(corpus.records_in, name, data) if len(data) <= self.settings.max_upload_bytes else (
                _too_large(len(data), self.settings.max_upload_bytes))
            if isinstance(records, str):
                read.append((name, records, None))
            else:
                read += [(f"{Path(name).name} #{n}", _read(self._from_record, r), None) for n, r in enumerate(records, 1)]
        return self._add(read)

    def add_records(self, records: list[dict]) -> list[Added]:
        """Index JSON records ({"id", "title", "text", "date", "source", "url", ...}), as `--jsonl` reads them."""
        names = [str(r.get("id") or f"record {n + 1}") if isinstance(r, dict) else f"record {n + 1}"
                 for n, r in enumerate(records)]
        return self._add([(name, _read(self._from_record, r), None) for name, r in zip(names, records)])

    def remove(self, doc_id: str) -> Document:
        """Take an added article out of the index and the uploads folder; KeyError when no article has that
        id, NotRemovable when it comes from the indexed folder."""
        path = self.index.path or self.settings.index_dir
        with self._adding, writer_lock(path):
            idx = self._current(path)
            doc = idx.document(doc_id)  # KeyError
            kept = [p for p in self._uploads() if p.stem == doc_id]
            folder = idx.manifest.get("corpus_dir")
            if not kept and folder:
                raise NotRemovable(f"{doc_id} comes from the indexed folder {folder}: remove its file there and re-index")
            saved = {p: p.read_bytes() for p in kept}
            for p in kept:  # first: after a crash the index is out of step with its uploads and is rebuilt without it
                p.unlink()
            try:
                new = idx.add([], remove=[doc_id])
                new.save(path, lock=False)
            except Exception:
                for p, data in saved.items():  # still indexed: it stays kept
                    replace_atomic(p, data)
                raise
            self.index = new
            return doc

    # -- inside ------------------------------------------------------------------------------------
    def _add(self, read: list[tuple[str, Document | str, bytes | None]]) -> list[Added]:
        """Index what was read (name, the document or why it was refused, the file's bytes or None)."""
        path = self.index.path or self.settings.index_dir
        with self._adding, writer_lock(path):
            idx = self._current(path)
            known = {_digest(d.text): d.id for d in idx.docs}
            ids = {d.id for d in idx.docs}
            out, docs, written = [], [], []
            for name, doc, data in read:
                shown = Path(name).name
                if isinstance(doc, str):
                    out.append(Added(shown, "rejected", reason=doc))
                    continue
                if _digest(doc.text) in known:
                    out.append(Added(shown, "duplicate", known[_digest(doc.text)], doc.title))
                    continue
                if doc.id in ids:
                    out.append(Added(shown, "rejected", doc.id, reason=f"an article with id {doc.id} is indexed already"))
                    continue
                known[_digest(doc.text)], ids = doc.id, ids | {doc.id}
                written.append(self._keep(doc, name, data))  # first: a crash after this still leaves it kept
                docs.append(doc)
                out.append(Added(shown, "added", doc.id, doc.title))
            if docs:
                try:
                    new = idx.add(docs)
                    new.save(path, lock=False)
                except Exception:
                    for upload in written:  # not indexed now: it must not appear at the next restart either
                        upload.unlink(missing_ok=True)
                    raise
                self.index = new
            return out

    def _current(self, path: Path):
        if read_manifest(path) not in (None, self.index.manifest):  # another process published meanwhile
            self.index = load(path, self.settings, reuse=self.index)
        return self.index

    def _from_file(self, name: str, data: bytes) -> Document:
        """The upload as a document, or ValueError saying why it is refused. The file name only gives the id
        (letters, digits, '-' and '_' and a content hash; never used as a path) and the format."""
        if Path(name).suffix.lower() not in corpus.SUFFIXES:
            raise ValueError(f"not a format the tool reads ({', '.join(corpus.ACCEPTED)})")
        if len(data) > self.settings.max_upload_bytes:
            raise ValueError(_too_large(len(data), self.settings.max_upload_bytes))
        doc = corpus.make_document("", **corpus.read_upload(name, data, self.settings.parse_seconds, self._parser))
        stem = re.sub(r"[^a-z0-9_-]+", "-", fold(Path(name).stem)).strip("-")[:60] or "tai-lieu"
        return dataclasses.replace(doc, id=f"{stem}_{_digest(doc.text)[:12]}")

    def _from_record(self, record) -> Document:
        if not isinstance(record, dict) or not isinstance(record.get("text"), str) or not record["text"].strip():
            raise ValueError("a record needs a non-empty \"text\"")
        if "id" in record and not SAFE_ID.fullmatch(str(record["id"])):
            raise ValueError("a record's id is letters, digits, '.', '-' and '_' (at most 100), starting with a letter or digit")
        [doc] = corpus.from_records([record])
        return doc if "id" in record else dataclasses.replace(doc, id=f"record_{_digest(doc.text)[:12]}")

    def _keep(self, doc: Document, name: str, data: bytes | None) -> Path:
        folder = self.settings.uploads_dir()
        folder.mkdir(parents=True, exist_ok=True)
        if data is not None:  # a file, as it came: read again by its format's reader at the next start
            path = folder / f"{doc.id}{Path(name).suffix.lower()}"
        else:  # a record: its fields as front matter, its text as the body
            path, data = folder / f"{doc.id}.md", _as_markdown(doc)
        replace_atomic(path, data)
        return path

    def _uploads(self) -> list[Path]:
        folder = self.settings.uploads_dir()
        return sorted(folder.iterdir()) if folder.is_dir() else []


def _stamp(path: Path | None) -> tuple[int, int] | None:
    """When and how large the index's manifest was last written (None: no manifest)."""
    try:
        st = (path / "manifest.json").stat()
        return st.st_mtime_ns, st.st_size
    except (OSError, TypeError):
        return None


def _too_large(size: int, limit: int) -> str:
    return f"too large ({size / 1e6:.1f} MB; at most {limit / 1e6:g} MB)"


def _read(make, *args) -> Document | str:
    """The document `make` reads, or why it refused it (its ValueError)."""
    try:
        return make(*args)
    except ValueError as e:
        return str(e)


def _as_markdown(doc: Document) -> bytes:
    front = {"title": doc.title, **{k: v for k, v in (("date", doc.date), ("source", doc.source), ("url", doc.url)) if v},
             **doc.meta}
    return ("---\n" + yaml.safe_dump(front, allow_unicode=True, sort_keys=False) + "---\n" + doc.text + "\n").encode()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
