"""Reading a question, once: checked and cleaned (`check_question`), its words for BM25 (`search_text`), and
what the readers need of it (`analyse`: its kind, the names it gives, its other content words, where its
question word sits), in one typed `Question`.

Patterns run on the folded question (diacritic-free, lowercase), so "bao nhieu" typed without accents is
read as "bao nhiêu".
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from qa.text import patterns
from qa.text.normalise import canonical, clean, fold, has_diacritics, terms, words
from qa.types import Lexicon

KINDS = [  # (kind, pattern on the folded question); first match wins
    ("title", r"chuc vu|chuc danh|giu chuc|cuong vi"),  # "Đào Đức Toàn giữ chức vụ gì?"
    ("money", r"bao nhieu (?:tien|von)|so tien|so von|kinh phi|bao nhieu (?:ty|trieu|nghin|ngan|dong|usd)|tri gia|gia tri bao nhieu"),
    ("date", r"nam nao|nam bao nhieu|khi nao|luc nao|bao gio|thoi gian nao|ngay nao|thang nao|giai doan nao"
             r"|nhiem ky nao|thoi ky nao|thoi diem nao"),
    ("organisation", r"co quan nao|doanh nghiep nao|to chuc nao|cong ty nao|don vi nao|tap doan nao|ngan hang nao"
                     r"|(?<!co )so nao|bo nao|nganh nao|ban nao"),
    ("place", r"o dau|tai dau|tinh nao|thanh pho nao|huyen nao|quan nao|xa nao|doan nao|dia phuong nao|noi nao"
              r"|vung nao|khu vuc nao|nuoc nao|quoc gia nao|dia diem nao|tinh thanh nao"),
    ("person", r"\bai\b|la ai|ten (?:la )?gi|ong nao|ba nao|vi nao|nguoi nao|dong chi nao"),
    ("count", r"bao nhieu|\bmay\b"),
]
# Words that only shape the question; they are not looked for in the text ("báo" is not "bao nhiêu").
SHAPING_WORDS = set(
    "bao nhiêu mấy gì nào ai đâu khi lúc giờ sao thế như là có không được đã sẽ đang của cho với và thì mà "
    "tiền tên hay vậy à ở tại những các một".split())
QUESTION_WORDS = {fold(w) for w in SHAPING_WORDS}  # as typed without accents
WH_PHRASES = [p.split() for p in (  # question phrases, folded; the first one found splits the question
    "bao nhieu", "khi nao", "bao gio", "the nao", "ra sao", "tai sao", "vi sao", "cai gi", "dieu gi", "gi",
    "nao", "ai", "dau", "may")]
SLOT_GLUE = {  # words between an echo and the question word that the sentence need not repeat ("X là ai")
    "la", "thi", "co", "duoc", "da", "se", "dang", "cua", "o", "tai", "vao"}
TITLE_WORDS = {"giu", "chuc", "vu", "danh", "cuong", "vi", "nhiem"}

WH_WORDS = {"ai", "gì", "nào", "đâu", "mấy", "bao", "nhiêu", "gi", "nao", "nhieu"}  # unaccented: the unambiguous ones


def check_question(question, limit: int) -> str:
    """The question, stripped and cut to `limit` characters; ValueError when it is empty or not text."""
    if not isinstance(question, str):
        raise ValueError("the question must be text")
    question = clean(question).strip()
    if not question:
        raise ValueError("the question is empty: type a question, e.g. \"Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?\"")
    return question[:limit]


def search_text(question: str) -> str:
    """The question without its question words (ai, gì, nào, bao nhiêu…), which the answer text never holds:
    BM25 would otherwise reward passages that happen to contain "ai" or "nào"."""
    return " ".join(w for w in question.split() if canonical(w).lower().strip("?.,!:;\"'") not in WH_WORDS)


def classify(question: str, folded: str | None = None) -> str:
    """The kind of answer a question asks for (money, date, person…; "other"); `folded`: its folded form."""
    fq = fold(question) if folded is None else folded
    for kind, pattern in KINDS:
        if re.search(pattern, fq):
            return kind
    return "other"


def question_entities(question: str, lexicon: Lexicon) -> list[str]:
    """Folded names in the question: capitalised runs (not the sentence-initial word alone) and known bigrams."""
    found = []
    tokens = question.split()
    shouting = sum(t[:1].isupper() for t in tokens) > 0.7 * len(tokens)  # capitals say nothing then
    for m in ([] if shouting else patterns.CAP_RUN.finditer(question)):
        syl = fold(m.group()).split()
        if len(syl) == 1 and (m.start() == 0 or has_diacritics(m.group())):
            continue  # a lone Vietnamese syllable (Thủ đô, sông Đà) is a word, not a name; Tesla, UBND are names
        found.append(" ".join(syl))
    cased = any(t[:1].isupper() for t in tokens[1:]) and not shouting  # then names are the capitalised runs
    fw_words = [] if cased else re.findall(r"\w+", fold(question))  # else the corpus's names say (ha noi)
    for a, b in zip(fw_words, fw_words[1:]):
        bigram = f"{a} {b}"
        if bigram in lexicon.names and not any(bigram in e for e in found):
            found.append(bigram)
    return [e for e in found if e.split()[0] not in QUESTION_WORDS or len(e.split()) > 1]


@dataclass(frozen=True)
class Question:
    """A question as the retriever and the readers take it, worked out once per question (`analyse`)."""

    text: str  # checked and cleaned (`check_question`): what is embedded and shown
    folded: str
    words: list[str]  # folded words, in order
    kind: str
    entities: list[str]  # folded names the answer sentence (or its context) must contain
    weights: dict[str, float]  # other content words -> idf
    left: list[str]  # the words before the question word ("... đã thua" | bao nhiêu | "điểm")
    right: list[str]  # and after it: the answer sits between their echoes in the sentence
    head: str  # the noun a "<noun> nào" question asks for ("vanh dai"), kept in the answer
    plural: bool  # "những lĩnh vực nào": the answer is a list, commas do not end it
    terms: list[str]  # its BM25 terms, question words left out (`search_text`)


def analyse(question: str, idf: Callable[[str], float], lexicon: Lexicon) -> Question:
    """`question` (checked) read once, with the corpus's idf and names."""
    folded = fold(question)
    entities = question_entities(question, lexicon)
    content = _content_words(question, entities)
    qwords = re.findall(r"\w+", folded)
    i, j = _wh_position(qwords)
    left, right = qwords[:i], qwords[j:]
    while left and left[-1] in SLOT_GLUE:  # "X là ai" -> X
        left = left[:-1]
    while right and right[0] in SLOT_GLUE:
        right = right[1:]
    head = " ".join(left[-2:]) if qwords[i:j] == ["nao"] else ""
    plural = re.search(r"\b(?:nhung|cac)\s+(?:\w+\s+){0,4}(?:nao|gi)\b", folded) is not None
    kind = classify(question, folded)
    if kind == "title":  # "giữ chức vụ" says what is asked; the sentence says "Phó Bí thư Thành ủy Đào Đức Toàn"
        content = [w for w in content if w not in TITLE_WORDS]
    return Question(question, folded, qwords, kind, entities, {w: idf("~" + w) for w in content},
                    left, right, head, plural, terms(search_text(question)))


def _wh_position(qwords: list[str]) -> tuple[int, int]:
    """Start and end (word indices) of the question phrase; (n, n) when there is none."""
    for i in range(len(qwords)):
        for phrase in WH_PHRASES:
            if qwords[i:i + len(phrase)] == phrase:
                return i, i + len(phrase)
    return len(qwords), len(qwords)


def _content_words(question: str, entities: list[str]) -> list[str]:
    ent_words = {w for e in entities for w in e.split()}
    out = []
    for w in words(question):
        f = fold(w)
        shaping = w in SHAPING_WORDS if has_diacritics(w) else f in QUESTION_WORDS
        if not shaping and f not in ent_words and f not in out:
            out.append(f)
    return out
