"""The records that cross module boundaries: Document in, Chunk inside, Hit and Answer out."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Document:
    """One article: `text` is the cleaned source that every offset refers to; `date` is ISO (YYYY-MM-DD) or
    "", `source` the newspaper or site, `url` the original, `meta` any other fields its file gave."""

    id: str
    title: str
    text: str
    date: str = ""
    source: str = ""
    url: str = ""
    meta: dict = field(default_factory=dict, compare=True, hash=False)

    def record(self) -> dict:
        """The document as stored: id, title and text, and its date, source, url and meta where it has them."""
        return {k: v for k, v in asdict(self).items() if v or k in ("id", "title", "text")}

    def digest(self) -> bytes:
        """The sha256 of everything the document says: a changed title, text, date or field changes it."""
        return hashlib.sha256(json.dumps(self.record(), ensure_ascii=False, sort_keys=True).encode("utf-8")).digest()


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: `source[start:end] == text`."""

    doc_id: str
    title: str
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and its rank on each side (1-based; None: not in that pool)."""

    doc_id: str
    title: str
    text: str
    start: int
    end: int
    score: float
    bm25_rank: int | None = None
    dense_rank: int | None = None
    date: str = ""  # the article's, as in its Document
    source: str = ""
    url: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CheckedSentence:
    """A sentence of a generated answer: the passages it cites (1-based, as written), whether every claim it
    makes is in one of them, and what is not (claims, or citations of passages that do not exist)."""

    text: str
    citations: list[int]
    verified: bool
    unsupported: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Answer:
    """A short answer ("" when not found), the sentence it comes from and the citations, best first.

    `sentence_span` and `answer_span` are character offsets into the first citation's document;
    `confidence` is the learned reader's, in [0, 1] (0.5 at its calibrated threshold; None from the rules).
    """

    question: str
    text: str
    found: bool
    sentence: str
    citations: list[Hit] = field(default_factory=list)
    kind: str = "other"
    sentence_span: tuple[int, int] | None = None
    answer_span: tuple[int, int] | None = None
    confidence: float | None = None
    generated: str = ""  # a language model's answer from the citations ("" without one: QA_LLM_URL)
    generated_verified: bool = False  # every sentence of it verified against the passages it cites (qa/answer/check.py)
    generated_sentences: list[CheckedSentence] = field(default_factory=list)
    notice: str = ""  # one line when the model could not be used (down, too slow, cut off) or said something odd

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Lexicon:
    """Names the corpus uses, folded; built at index time (qa/index/lexicon.py), read by the readers."""

    names: frozenset[str]  # bigrams of capitalised runs: "ha noi tang vinh phuc" still has its entities
    places: frozenset[str]  # names written after tỉnh, thành phố, huyện…: "Hà Nội" is not a person
