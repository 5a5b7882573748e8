"""What a search may return: a date range, sources, categories, documents.

Filters are applied inside retrieval, before ranking (a mask over the BM25 scores, an ID selector in
faiss), so k hits come back whenever k chunks pass them; they are never a post-filter that returns fewer.
A document without a date is outside every date range; an empty value filters nothing. Sources and categories match whatever their case,
tone placement or Unicode form.
"""
from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

import numpy as np

from qa.intake.formats import iso_date
from qa.text import patterns
from qa.text.normalise import canonical, fold
from qa.types import Document

KEYS = ("since", "until", "source", "category", "doc_ids")


class ReversedRange(ValueError):
    """`since` is after `until` (the page says so in its own words)."""


@dataclass(frozen=True)
class Filters:
    since: str = ""  # ISO dates, inclusive
    until: str = ""
    sources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    doc_ids: tuple[str, ...] = ()


def parse(filters: dict | Filters | None) -> Filters | None:
    """`filters` as a dict (any of KEYS) checked and normalised; None when it filters nothing. ValueError
    names the key that is wrong."""
    if filters is None or isinstance(filters, Filters):
        return filters
    if not isinstance(filters, dict):
        raise ValueError(f"filters must be a dict with any of {', '.join(KEYS)}")
    unknown = sorted(set(filters) - set(KEYS))
    if unknown:
        raise ValueError(f"unknown filter {unknown[0]!r}: use any of {', '.join(KEYS)}")
    dates = {}
    for key in ("since", "until"):
        value = filters.get(key) or ""
        dates[key] = iso_date(value) if value else ""
        if value and not dates[key]:
            raise ValueError(f"filter {key!r} must be a date such as 2019-03-15, not {value!r}")
    if dates["since"] and dates["until"] and dates["since"] > dates["until"]:
        raise ReversedRange(f"filter 'since' ({dates['since']}) is after 'until' ({dates['until']})")
    f = Filters(dates["since"], dates["until"], *(_names(filters.get(key), key) for key in ("source", "category")),
                tuple(str(x) for x in _listed(filters.get("doc_ids"), "doc_ids")))
    return None if f == Filters() else f


def _listed(value, key: str) -> list:
    if value is None or value == "":
        return []
    values = [value] if isinstance(value, (str, int)) else value
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, (str, int)) for v in values):
        raise ValueError(f"filter {key!r} must be a name or a list of names")
    return list(values)


def _names(value, key: str) -> tuple[str, ...]:
    return tuple(name_key(str(v)) for v in _listed(value, key))


def name_key(name: str) -> str:
    return " ".join(canonical(name).casefold().split())


@dataclass(frozen=True)
class DocTable:
    """The documents' dates, sources and categories as arrays, made once per index, for masks per query."""

    dates: np.ndarray  # "YYYY-MM-DD" or ""
    sources: np.ndarray
    categories: np.ndarray
    ids: dict[str, int]

    @classmethod
    def of(cls, docs: list[Document]) -> "DocTable":
        return cls(np.array([d.date for d in docs], dtype="U10"), np.array([name_key(d.source) for d in docs], dtype=object),
                   np.array([name_key(str(d.meta.get("category", ""))) for d in docs], dtype=object),
                   {d.id: i for i, d in enumerate(docs)})


def doc_mask(f: Filters, table: DocTable) -> np.ndarray:
    """Which documents pass `f`."""
    keep = np.ones(len(table.dates), dtype=bool)
    if f.since or f.until:
        keep &= table.dates != ""
    if f.since:
        keep &= table.dates >= f.since
    if f.until:
        keep &= table.dates <= f.until
    if f.sources:
        keep &= np.isin(table.sources, list(f.sources))
    if f.categories:
        keep &= np.isin(table.categories, list(f.categories))
    if f.doc_ids:
        chosen = np.zeros_like(keep)
        chosen[[table.ids[i] for i in f.doc_ids if i in table.ids]] = True
        keep &= chosen
    return keep


_DAY = re.compile(patterns.QUESTION_DAY)
_MONTH = re.compile(patterns.MONTH_YEAR)
_QUARTER = re.compile(patterns.QUARTER_YEAR)
_YEAR = re.compile(patterns.NAMED_YEAR)
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}


def period(question: str) -> tuple[str, str] | None:
    """The period a question names, as inclusive ISO dates: a day ("ngày 15/3/2019"), a month ("tháng 3/2019",
    "tháng 3 năm 2019"), a quarter ("quý 2/2019") or a year ("năm 2017"); with or without diacritics."""
    q = fold(question)
    if m := _DAY.search(q):
        day = iso_date(m.group())
        return (day, day) if day else None
    if (m := _MONTH.search(q)) and 1 <= int(m.group(1) or m.group(2)) <= 12:
        y, mo = int(m.group(3)), int(m.group(1) or m.group(2))
        return dt.date(y, mo, 1).isoformat(), dt.date(y, mo, calendar.monthrange(y, mo)[1]).isoformat()
    if m := _QUARTER.search(q):
        y, n = int(m.group(2)), _ROMAN.get(m.group(1)) or int(m.group(1))
        last = 3 * n
        return dt.date(y, last - 2, 1).isoformat(), dt.date(y, last, calendar.monthrange(y, last)[1]).isoformat()
    if m := _YEAR.search(q):
        return f"{m.group(1)}-01-01", f"{m.group(1)}-12-31"
    return None


def dated_window(span: tuple[str, str], grace_days: int) -> tuple[str, str]:
    """The publication dates of articles about `span`: within it, and for a year up to `grace_days` after it
    (a year's figures come out the next January; a month's come out within it, and the next month's
    article is about the next month)."""
    year = span[0][5:] == "01-01" and span[1][5:] == "12-31" and span[0][:4] == span[1][:4]
    return span[0], (dt.date.fromisoformat(span[1]) + dt.timedelta(days=grace_days if year else 0)).isoformat()


def in_period(window: tuple[str, str], table: DocTable) -> np.ndarray:
    """Which documents are dated within `window` (undated ones never are)."""
    return (table.dates != "") & (table.dates >= window[0]) & (table.dates <= window[1])
