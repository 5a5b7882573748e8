"""Reading documents: a folder of articles in any format `formats` reads, or records ({"id", "title", "text"},
and any other fields: date, source, url, the rest as meta).

Bad files (empty, binary, not UTF-8, a PDF without text, a page with no article, one whose parser crashes
or runs past `Settings.parse_seconds`) are skipped with a warning naming them and why; the good ones are kept.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import gzip
import hashlib
import json
import logging
import multiprocessing
import os
import re
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from qa.config import Settings
from qa.intake import formats
from qa.intake.formats import BINARY, EMPTY, NOT_UTF8, SUFFIXES, decode  # noqa: F401 (what callers check against)
from qa.text.normalise import clean
from qa.types import Document

log = logging.getLogger("qa")
_TITLE_WORDS = 12
_TITLE_MAX = 160
_FIELDS = ("id", "title", "text", "date", "source", "url")
RECORDS = (".jsonl", ".jsonl.gz")  # files of articles, one record a line
ACCEPTED = sorted(SUFFIXES) + list(RECORDS)  # what a folder or an upload may hold
NO_RECORDS = "no records in it: expected one {\"id\", \"title\", \"text\"} object a line"


def read_folder(folder: str | Path, timeout: float | None = None) -> list[Document]:
    """Every readable article file under `folder` (sorted by path; the id is the file name without suffix),
    and the records of its .jsonl(.gz) files (their ids are the records')."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"not a folder: {folder}")
    files = article_files(folder)
    docs = [make_document(path.stem, **fields) for path, fields, _ in read_files([p for p in files if not is_records(p)], timeout)
            if fields is not None]
    for path in filter(is_records, files):
        try:
            docs += read_jsonl(path)
        except ValueError as e:
            log.warning("skipped %s: %s", path, e)
    return unique(docs)


def article_files(folder: Path) -> list[Path]:
    """The files under `folder` in a format the tool reads, sorted by path."""
    return sorted(p for p in Path(folder).rglob("*") if (p.suffix.lower() in SUFFIXES or is_records(p)) and p.is_file())


def read_files(paths: list[Path], timeout: float | None = None, warn: bool = True,
               parser: "Parser | None" = None) -> Iterator[tuple[Path, dict | None, str]]:
    """(path, what its reader found, "") for each readable file, (path, None, why) for the others (logged
    as warnings with `warn`). Web pages, PDFs and Word files go to `parser` (a new one when not given)."""
    with _using(parser) as parser:
        for path in paths:
            if path.suffix.lower() in formats.PARSED_SUFFIXES:
                fields, why = parser.parse(path.suffix, None, path, timeout)
            else:
                try:
                    fields, why = formats.read_bytes(path.suffix, _read(path)), ""
                except ValueError as e:
                    fields, why = None, str(e)
            if why and warn:
                log.warning("skipped %s: %s", path, why)
            yield path, fields, why


def read_upload(name: str, data: bytes, timeout: float | None = None, parser: "Parser | None" = None) -> dict:
    """What the reader of `name`'s format finds in `data` (web pages, PDFs and Word files through `parser`,
    as for a folder); ValueError saying why it cannot be read."""
    suffix = Path(name).suffix.lower()
    if suffix not in formats.PARSED_SUFFIXES:
        return formats.read_bytes(suffix, data)
    with _using(parser) as parser:
        fields, why = parser.parse(suffix, data, Path(name), timeout)
    if why:
        raise ValueError(why)
    return fields


def _exit_with_parent(parent: int) -> None:
    """In a parser worker: end when the process that started it is gone (a server killed, not shut down,
    would otherwise leave it waiting for work for ever)."""
    def watch():
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


class Parser:
    """A worker process for the parsers that can crash or hang (web pages, PDFs, Word files), started at the
    first file and replaced when one kills it; a server keeps one, so an upload does not wait for a start."""

    def __init__(self):
        self._worker: cf.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def parse(self, suffix: str, data: bytes | None, path: Path, timeout: float | None) -> tuple[dict | None, str]:
        """(fields, "") or (None, why). `data` None: the worker reads `path` itself. `timeout` None: the
        configured one (QA_PARSE_SECONDS), read now, so no caller parses with a stale default."""
        if timeout is None:
            timeout = Settings.from_env().parse_seconds
        with self._lock:
            if self._worker is None:
                # spawn, not fork: the parent may hold model threads that a forked child would inherit mid-work
                self._worker = cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                                      initializer=_exit_with_parent, initargs=(os.getpid(),))
            future = self._worker.submit(_parse, suffix, data, str(path))
            try:
                return future.result(timeout=timeout), ""
            except ValueError as e:
                return None, str(e)
            except cf.TimeoutError:
                for process in list(getattr(self._worker, "_processes", {}).values()):  # a hung parser never returns
                    process.kill()
                self.close()
                return None, f"its parser ran past {timeout:g} s"
            except cf.process.BrokenProcessPool:
                self.close()
                return None, "its parser crashed"
            except Exception as e:  # a parser's own bug, raised in the worker and sent back
                return None, f"its parser failed ({type(e).__name__})"

    def close(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=False, cancel_futures=True)
            self._worker = None


def _using(parser: Parser | None):
    """The caller's parser as it is, or a new one closed after use."""
    return contextlib.nullcontext(parser) if parser is not None else contextlib.closing(Parser())


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read it ({e.strerror})") from None


def _parse(suffix: str, data: bytes | None, path: str) -> dict:
    """In the worker: the format's reader over the bytes (read here when not given)."""
    return formats.read_bytes(suffix, _read(Path(path)) if data is None else data)


def read_jsonl(path: str | Path, limit: int | None = None) -> list[Document]:
    """The first `limit` (default: all) records of a .jsonl or .jsonl.gz file, one {"id", "title", "text"}
    object a line; lines that are not JSON objects are skipped with a warning."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"not a file: {path}")
    if limit is not None and limit < 1:
        raise ValueError("limit must be at least 1")
    try:
        with (gzip.open if path.suffix.lower() == ".gz" else open)(path, "rt", encoding="utf-8-sig") as f:
            records = _records(f, path, limit)
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as e:
        raise ValueError(f"cannot read {path}: {e}") from None
    docs = from_records(records)
    if not docs:  # indexing nothing would replace a good index with an empty one
        raise ValueError(f"no documents in {path}: expected one {{\"id\", \"title\", \"text\"}} object a line")
    return docs


def is_records(name: str | Path) -> bool:
    """A .jsonl or .jsonl.gz file: many articles, one record a line."""
    return str(name).lower().endswith(RECORDS)


def records_in(name: str, data: bytes) -> list[dict]:
    """The records of an uploaded .jsonl(.gz) file; ValueError when it has none."""
    try:
        text = (gzip.decompress(data) if name.lower().endswith(".gz") else data).decode("utf-8-sig")
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as e:
        raise ValueError(f"not a readable JSONL file ({type(e).__name__})") from None
    records = _records(text.splitlines(), name)
    if not records:
        raise ValueError(NO_RECORDS)
    return records


def _records(lines: Iterable[str], where, limit: int | None = None) -> list:
    records = []
    for n, line in enumerate(lines, 1):
        if limit is not None and len(records) >= limit:
            break
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError:
                log.warning("skipped line %d of %s: not JSON", n, where)
    return records


def from_records(records: Iterable[dict]) -> list[Document]:
    """Documents from dicts with "text" and optional "id", "title", "date", "source" and "url"; other fields
    become the document's meta. Records without text are skipped."""
    docs = []
    for n, rec in enumerate(records):
        if isinstance(rec, Document):
            docs.append(make_document(rec.id, rec.text, rec.title, rec.date, rec.source, rec.url, rec.meta))
            continue
        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str) or not rec["text"].strip():
            log.warning("skipped record %d: it has no text", n)
            continue
        doc_id = str(rec.get("id") or hashlib.sha1(rec["text"].encode()).hexdigest()[:16])
        meta = {str(k): v for k, v in rec.items() if k not in _FIELDS and formats.plain(v)}
        docs.append(make_document(doc_id, rec["text"], _str(rec.get("title")), formats.iso_date(rec.get("date")),
                                  _str(rec.get("source")), _str(rec.get("url")), meta))
    return unique(docs)


def make_document(doc_id: str, text: str, title: str | None = None, date: str = "", source: str = "",
                  url: str = "", meta: dict | None = None) -> Document:
    """A Document from what a reader found; without a date from its file, the article's dateline gives one."""
    text = clean(text).strip("\n")
    return Document(doc_id, clean(title).strip() if title else guess_title(text), text,
                    date or formats.dateline(text), clean(source).strip(), url.strip(), meta or {})


def _str(value) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def guess_title(text: str) -> str:
    """The first line when it reads as a headline (short, no final full stop), else the first words."""
    first = text.strip().split("\n", 1)[0].strip()
    if first and len(first) <= _TITLE_MAX and not re.search(r"[.:;,]$", first):
        return first
    words = first.split()
    return " ".join(words[:_TITLE_WORDS]) + ("…" if len(words) > _TITLE_WORDS else "")


def unique(docs: list[Document]) -> list[Document]:
    """Drop repeated ids, keeping the first and warning about the rest."""
    seen, out = set(), []
    for d in docs:
        if d.id in seen:
            log.warning("skipped a second document with id %s", d.id)
            continue
        seen.add(d.id)
        out.append(d)
    return out
