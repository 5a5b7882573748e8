"""Sentences and chunks with exact offsets into the cleaned source text.

A sentence ends at . ! ? … (plus closing quotes) followed by a space and a capital, digit or quote, or at
a newline. Numbers such as 10.900 never break (no space after the dot), nor do abbreviations (TP., TS.)
and initials. Chunks come from langchain's RecursiveCharacterTextSplitter with the same sentence rule as
a separator, so they end on sentence boundaries where they can and overlap by `chunk_overlap` characters.
"""
from __future__ import annotations

import re
from array import array
from collections.abc import Sequence

import numpy as np
from langchain_text_splitters import RecursiveCharacterTextSplitter

from qa.config import Settings
from qa.types import Chunk, Document

_ABBREV = ["TP", "Tp", "TS", "ThS", "PGS", "GS", "BS", "KS", "Q", "P", "St", "Mr", "Mrs", "Dr", "v.v", "tr", "Th"]
# Python's lookbehinds are fixed-width: one per abbreviation, one for a single capital initial (Nguyễn V. A).
_NOT_ABBREV = "".join(rf"(?<!\b{re.escape(a)}\.)" for a in _ABBREV) + r"(?<!\b[^\W\d_]\.)"
SENTENCE_BREAK = rf"(?<=[.!?…]){_NOT_ABBREV}[\"'”’)\]]*[ \t]+(?=[\"“'(\[]?[^\W_a-zđ])"
_BREAK = re.compile(SENTENCE_BREAK + r"|\n+")


def sentences(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """(start, end) of every non-blank sentence in `text`, shifted by `offset`, whitespace trimmed."""
    spans, start = [], 0
    for m in _BREAK.finditer(text):
        spans.append((start, m.start() + len(m.group()) - len(m.group().lstrip("\"'”’)]"))))
        start = m.end()
    spans.append((start, len(text)))
    out = []
    for a, b in spans:
        seg = text[a:b]
        if seg.strip():
            a2 = a + len(seg) - len(seg.lstrip())
            out.append((offset + a2, offset + a + len(seg.rstrip())))
    return out


def chunk(doc: Document, size: int, overlap: int) -> list[Chunk]:
    """Split one document into overlapping, sentence-aligned chunks with exact source offsets."""
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=size, chunk_overlap=overlap, separators=["\n\n", "\n", SENTENCE_BREAK, r" ", ""],
        is_separator_regex=True, keep_separator="end", strip_whitespace=True)
    chunks: list[Chunk] = []
    for piece in splitter.split_text(doc.text):
        start = _locate(doc.text, piece, chunks[-1] if chunks else None, overlap)
        chunks.append(Chunk(doc.id, doc.title, piece, start, start + len(piece)))
    return chunks


def _locate(text: str, piece: str, prev: Chunk | None, overlap: int) -> int:
    """Where `piece` starts: after the previous chunk's start, at most `overlap` characters before its end
    where it occurs there (repetitive text holds the same piece at several places)."""
    if prev is None:
        return text.find(piece)
    start = text.find(piece, max(prev.start + 1, prev.end - overlap))
    if start < 0 or start > prev.end:  # more overlap than asked for: the latest occurrence that touches prev
        start = text.rfind(piece, prev.start + 1, prev.end + len(piece))
    return start if start >= 0 else text.find(piece, prev.start + 1)


class ChunkTable(Sequence):
    """The chunks of an index as three arrays (document, start, end) over the documents' text; a `Chunk` is
    made when one is asked for, so a large index holds no second copy of every passage."""

    def __init__(self, docs: list[Document], doc: np.ndarray, start: np.ndarray, end: np.ndarray):
        self.docs, self.doc, self.start, self.end = docs, doc.astype(np.int32), start.astype(np.int64), end.astype(np.int64)

    @classmethod
    def split(cls, docs: list[Document], settings: Settings) -> "ChunkTable":
        """The chunks of `docs` (only their offsets are kept)."""
        doc, start, end = array("i"), array("q"), array("q")
        for i, d in enumerate(docs):
            for c in chunk(d, settings.chunk_size, settings.chunk_overlap):
                doc.append(i)
                start.append(c.start)
                end.append(c.end)
        return cls(docs, np.frombuffer(doc, np.int32), np.frombuffer(start, np.int64), np.frombuffer(end, np.int64))

    def __len__(self) -> int:
        return len(self.doc)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        d, a, b = self.docs[self.doc[i]], int(self.start[i]), int(self.end[i])
        return Chunk(d.id, d.title, d.text[a:b], a, b)


def indexed_text(c: Chunk) -> str:
    """What BM25 and the embedder see: the title gives a passage its context."""
    return c.text if c.text.startswith(c.title) else f"{c.title}\n{c.text}"
