"""Reading documents: a folder of .txt/.md files or an iterable of {"id", "title", "text"} dicts.

Bad files (empty, binary, not UTF-8) are skipped with a warning naming them; the good ones are kept.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import zlib
from collections.abc import Iterable
from pathlib import Path

from .normalise import clean
from .types import Document

log = logging.getLogger("qa")
SUFFIXES = {".txt", ".md"}
BINARY, NOT_UTF8, EMPTY = "binary file", "not UTF-8 text", "empty file"  # why a file is not read
_TITLE_WORDS = 12
_TITLE_MAX = 160


def read_folder(folder: str | Path) -> list[Document]:
    """Every readable .txt/.md file under `folder` (sorted by path); the id is the file name without suffix."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"not a folder: {folder}")
    docs = []
    for path in article_files(folder):
        text = read_text(path)
        if text is not None:
            docs.append(make_document(path.stem, text))
    return unique(docs)


def article_files(folder: Path) -> list[Path]:
    """The .txt/.md files under `folder`, sorted by path."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())


def read_text(path: Path) -> str | None:
    """The file's text, or None (with a warning) when it is unreadable, empty, binary or not UTF-8."""
    try:
        return text_of(path)
    except ValueError as e:
        log.warning("skipped %s: %s", path, e)
    return None


def text_of(path: Path) -> str:
    """The file's text; ValueError saying why it cannot be read (`decode`'s reasons, or the OS error)."""
    try:
        return decode(path.read_bytes())
    except OSError as e:
        raise ValueError(f"cannot read it ({e.strerror})") from None


def decode(data: bytes) -> str:
    """UTF-8 text (a BOM is dropped); ValueError "binary file", "not UTF-8 text" or "empty file"."""
    if b"\x00" in data[:8192]:
        raise ValueError(BINARY)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(NOT_UTF8) from None
    if not text.strip():
        raise ValueError(EMPTY)
    return text


def read_jsonl(path: str | Path, limit: int | None = None) -> list[Document]:
    """The first `limit` (default: all) records of a .jsonl or .jsonl.gz file, one {"id", "title", "text"}
    object a line; lines that are not JSON objects are skipped with a warning."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"not a file: {path}")
    if limit is not None and limit < 1:
        raise ValueError("limit must be at least 1")
    records = []
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rt", encoding="utf-8-sig") as f:
            for n, line in enumerate(f, 1):
                if limit is not None and len(records) >= limit:
                    break
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except ValueError:
                        log.warning("skipped line %d of %s: not JSON", n, path)
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as e:
        raise ValueError(f"cannot read {path}: {e}") from None
    docs = from_records(records)
    if not docs:  # indexing nothing would replace a good index with an empty one
        raise ValueError(f"no documents in {path}: expected one {{\"id\", \"title\", \"text\"}} object a line")
    return docs


def from_records(records: Iterable[dict]) -> list[Document]:
    """Documents from dicts with "text" and optional "id"/"title"; records without text are skipped."""
    docs = []
    for n, rec in enumerate(records):
        if isinstance(rec, Document):
            rec = {"id": rec.id, "title": rec.title, "text": rec.text}
        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str) or not rec["text"].strip():
            log.warning("skipped record %d: it has no text", n)
            continue
        doc_id = str(rec.get("id") or hashlib.sha1(rec["text"].encode()).hexdigest()[:16])
        docs.append(make_document(doc_id, rec["text"], rec.get("title")))
    return unique(docs)


def make_document(doc_id: str, text: str, title: str | None = None) -> Document:
    text = clean(text).strip("\n")
    return Document(doc_id, clean(title).strip() if title else guess_title(text), text)


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
