"""The names and places the readers know (`qa.types.Lexicon`), from counts kept per segment.

A bigram is a name when at least NAME_SHARE of its occurrences in the indexed chunks are written
capitalised (Vĩnh Phúc, not "giá bao", which the name Gia Bảo would otherwise make a name in every "giá bao
nhiêu"); a place is a name written after tỉnh, thành phố, huyện… Each segment keeps, chunk by chunk, its
capitalised bigrams with their counts and its places; how often a bigram occurs at all is its folded term's
count in BM25 (`BM25.totals`). Both are summed over the live chunks of every segment, so an index of many
segments, some of them with deleted documents, knows exactly the names a fresh index of the same documents
knows, without reading any text again.
"""
from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from qa.index.bm25 import BM25, term_hashes
from qa.text import patterns
from qa.text.normalise import fold, fold_aligned, terms
from qa.types import Lexicon

NAME_SHARE = 0.5  # of a bigram's occurrences written capitalised, for the lexicon to take it as a name


@dataclass
class LexCounts:
    """One segment's capitalised bigrams (folded) and places, by chunk, as (chunk, word, count) entries."""

    bigrams: np.ndarray  # (n,) str
    bigram_rows: np.ndarray  # (m,) int32 chunk
    bigram_cols: np.ndarray  # (m,) int32 index into bigrams
    bigram_counts: np.ndarray  # (m,) int32 capitalised occurrences in that chunk
    places: np.ndarray  # (p,) str
    place_rows: np.ndarray  # (q,) int32 chunk
    place_cols: np.ndarray  # (q,) int32 index into places

    ARRAYS = ("bigrams", "bigram_rows", "bigram_cols", "bigram_counts", "places", "place_rows", "place_cols")

    @cached_property
    def hashes(self) -> np.ndarray:
        """The BM25 term hash of each bigram's folded form ("~ha noi"), where its total count is found."""
        return term_hashes(["~" + w for w in self.bigrams.tolist()])

    @classmethod
    def of(cls, texts: Iterable[str]) -> "LexCounts":
        """The counts of chunk texts (what BM25 indexes of each chunk)."""
        bigrams: dict[str, int] = {}
        places: dict[str, int] = {}
        b_rows, b_cols, b_counts, p_rows, p_cols = (array("i") for _ in range(5))  # compact: a whole archive
        for row, text in enumerate(texts):
            capitalised, named = found(text)
            for word, n in capitalised.items():
                b_rows.append(row)
                b_cols.append(bigrams.setdefault(word, len(bigrams)))
                b_counts.append(n)
            for word in named:
                p_rows.append(row)
                p_cols.append(places.setdefault(word, len(places)))
        i32 = lambda xs: np.frombuffer(xs, dtype=np.int32).copy()  # noqa: E731
        return cls(_strings(bigrams), i32(b_rows), i32(b_cols), i32(b_counts), _strings(places), i32(p_rows), i32(p_cols))

    @classmethod
    def merge(cls, parts: Sequence["LexCounts"], keeps: Sequence[np.ndarray]) -> "LexCounts":
        """The counts of the chunks of `parts` that `keeps` marks (one flag a chunk), renumbered in order:
        the arrays `of` gives on their texts."""
        out, base = {}, np.cumsum([0] + [int(k.sum()) for k in keeps])
        for kind in ("bigram", "place"):
            table: dict[str, int] = {}
            rows, cols, counts = [], [], []
            for p, keep, b in zip(parts, keeps, base):
                vocab, r, c = getattr(p, kind + "s"), getattr(p, kind + "_rows"), getattr(p, kind + "_cols")
                ids = np.asarray([table.setdefault(w, len(table)) for w in vocab.tolist()], dtype=np.int64)
                ok = keep[r]
                rows.append((np.cumsum(keep) - 1 + b)[r[ok]])
                cols.append(ids[c[ok]])
                counts.append(p.bigram_counts[ok] if kind == "bigram" else np.zeros(0))
            col = np.concatenate(cols) if cols else np.zeros(0, np.int64)
            used, first = np.unique(col, return_index=True)
            order = used[np.argsort(first)]  # words numbered as they first occur, as `of` numbers them
            renumber = np.zeros(len(table), np.int32)
            renumber[order] = np.arange(len(order), dtype=np.int32)
            out[kind + "s"] = np.asarray(list(table), dtype=str)[order] if len(order) else np.zeros(0, "<U1")
            out[kind + "_rows"] = np.concatenate(rows).astype(np.int32) if rows else np.zeros(0, np.int32)
            out[kind + "_cols"] = renumber[col]
            if kind == "bigram":
                out["bigram_counts"] = np.concatenate(counts).astype(np.int32) if counts else np.zeros(0, np.int32)
        return cls(**out)


def found(text: str) -> tuple[Counter[str], set[str]]:
    """The folded bigrams of a text's capitalised runs, with counts, and the places named after place words
    ("UBND tỉnh Vĩnh Phúc Nguyễn Văn Trì": the place ends at the person)."""
    capitalised: Counter[str] = Counter()
    for m in patterns.CAP_RUN.finditer(text):
        syl = fold(m.group()).split()
        capitalised.update(" ".join(syl[i:i + 2]) for i in range(len(syl) - 1))
    places = set()
    for a, b in patterns.named_after(patterns.PLACE_WORDS, text, fold_aligned(text)):
        syl = fold(text[a:b]).split()
        cut = next((i for i in range(len(syl)) if patterns.person_like(syl[i:])), len(syl))
        if cut:
            places.add(" ".join(syl[:cut]))
    return capitalised, places


def lexicon(parts: Sequence[LexCounts], bm25: BM25) -> Lexicon:
    """The lexicon of the live chunks of segments: their counts, and BM25 over the same segments."""
    hashes, counts, places = [], [], set()
    for p, m in zip(parts, bm25.live):
        ok = np.ones(len(p.bigram_rows), bool) if m is None else m[p.bigram_rows]
        counts.append(np.bincount(p.bigram_cols[ok], p.bigram_counts[ok], minlength=len(p.bigrams)))
        hashes.append(p.hashes)
        places.update(p.places[np.unique(p.place_cols if m is None else p.place_cols[m[p.place_rows]])].tolist())
    unique, first, inverse = np.unique(np.concatenate(hashes) if hashes else np.zeros(0, np.uint64),
                                       return_index=True, return_inverse=True)
    capitalised = np.bincount(inverse, np.concatenate(counts) if counts else None, minlength=len(unique))
    anywhere = bm25.totals(unique)
    where = first[(capitalised > 0) & (anywhere > 0) & (capitalised >= NAME_SHARE * anywhere)]
    offsets = np.cumsum([0] + [len(h) for h in hashes])
    part = np.searchsorted(offsets, where, side="right") - 1  # each name's first segment, and its place there
    names = {w for i in np.unique(part) for w in parts[i].bigrams[where[part == i] - offsets[i]].tolist()}
    return Lexicon(frozenset(names), frozenset(places))


def of_texts(texts: Iterable[str]) -> Lexicon:
    """The lexicon of a few texts, each counted as one chunk (tests, the question generator)."""
    texts = list(texts)
    return lexicon([LexCounts.of(texts)], BM25.fit(terms(t) for t in texts))


def _strings(table: dict[str, int]) -> np.ndarray:
    return np.asarray(list(table), dtype=str) if table else np.zeros(0, dtype="<U1")
