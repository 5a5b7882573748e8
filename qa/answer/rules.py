"""Extractive answers without an LLM: pick the answer-bearing sentence among the top hits, then the short
answer the question's type asks for (money, count, date, person, place, organisation).

A sentence qualifies only if it names every entity the question names (Hà Nội, Vĩnh Phúc…) and covers
enough of its other content words; a typed question also needs a candidate of that type in the sentence.
Otherwise the answer is "not found", rather than a guess from a neighbouring article.

The short answer sits where the question word sits: "Hà Nội tặng Vĩnh Phúc | bao nhiêu | tiền" puts it after
the sentence's echo of the words before the question word and before its echo of the words after it.

Patterns run on the folded (diacritic-free, lowercase) text, which has the same length as the NFC text,
so every match maps back to exact offsets in the source.
"""
from __future__ import annotations

import re
from typing import NamedTuple

import regex

from qa.text import patterns
from qa.text.normalise import fold
from qa.text.question import QUESTION_WORDS, SLOT_GLUE, Question
from qa.types import Answer, Hit, Lexicon

MAX_SLOT_WORDS = 12
ECHO_WINDOW = 60  # characters before an echo of the question's words that tell its occurrences apart
TYPED_BONUS = 0.2  # score of a sentence holding a candidate of the asked type over one with only words in the slot
SUBJECT_MENTIONS = 3
_ANAPHOR = re.compile(r"\b(?:hai (?:tinh|ben|dia phuong|thanh pho)|tinh|thanh pho|dia phuong|thu do)\b")
_CLAUSE_BREAK = re.compile(r"[,;:()\"“”]|\s-\s")
_LIST_BREAK = re.compile(r"[;:()\"“”]|\s-\s")
_ITEM_END = r"(?!\s+(?:cua|trong|tai|voi|cho|de|nham|la|va|o)\b)"
_LIST = re.compile(  # "A, B và C" (items of up to 3 words), as a short answer's extent
    rf"\s*(?:la\s+)?\w+(?:\s+\w+){{0,2}}(?:,\s*\w+(?:\s+\w+){{0,2}})+\s+(?:va|hoac)\s+\w+(?:{_ITEM_END}\s+\w+){{0,2}}\b")

Candidate = tuple[Hit, str, str, list[tuple[int, int]]]  # hit, document text, its folded form, sentence spans


def answer(q: Question, candidates: list[Candidate], lexicon: Lexicon, min_coverage: float) -> Answer:
    """Choose the answer sentence among `candidates` and its short answer; cites only the chosen hit. A
    question that names nothing and has no content word ("???") has nothing to find in a sentence: not found."""
    if not q.weights and not q.entities:
        return Answer(q.text, "", False, "", [], q.kind)
    total = sum(q.weights.values()) or 1.0
    best = None
    seen: set[tuple[str, int]] = set()
    for rank, (hit, text, folded_doc, spans) in enumerate(candidates):
        title = fold(hit.title)
        # what the article is about (named again and again) may be referred to as "hai tỉnh", "tỉnh", "hai bên"
        subjects = [e for e in q.entities if folded_doc.count(e) >= SUBJECT_MENTIONS]
        for j, (a, b) in enumerate(spans):
            if (hit.doc_id, a) in seen:
                continue
            seen.add((hit.doc_id, a))
            folded = folded_doc[a:b]
            # the previous sentence and the title may name the subject ("…Vĩnh Phúc… Từ năm 2014, tỉnh…")
            context = " ".join([title, folded_doc[slice(*spans[j - 1])] if j else "", folded])
            if not all(names(context, e) or e in subjects and refers_back(text[a:b], folded) for e in q.entities):
                continue
            have = set(re.findall(r"\w+", folded))
            near = set(re.findall(r"\w+", context)) - have  # the title and previous sentence count half
            coverage = sum(v for w, v in q.weights.items() if w in have) / total if q.weights else 1.0
            if coverage + 0.5 * sum(v for w, v in q.weights.items() if w in near) / total < min_coverage:
                continue
            short = extract(q, text[a:b], folded, lexicon.places)
            if short is None:
                continue
            score = coverage + 0.1 / (rank + 1) + 0.5 * _phrase_overlap(q, folded) + TYPED_BONUS * short.typed
            if best is None or score > best[0]:
                best = (score, hit, text, a, b, short)
    if best is None:
        return Answer(q.text, "", False, "", [], q.kind)
    _, hit, text, a, b, (sa, sb, _) = best
    short = text[a + sa:a + sb].strip(" ,.;:")
    sa = a + sa + max(text[a + sa:a + sb].find(short), 0)
    return Answer(q.text, short, True, text[a:b], [hit], q.kind, (a, b), (sa, sa + len(short)))


class Short(NamedTuple):
    start: int
    end: int
    typed: bool  # a candidate of the question's type, not just the words in the slot


def extract(q: Question, sent: str, folded: str, places: frozenset[str] = frozenset()) -> Short | None:
    """Offsets of the short answer of the question's kind inside the sentence, or None when it has none;
    `places` are the corpus's place names, which no person answer may be."""
    spans = typed_spans(q.kind, sent, folded, places, q)
    if q.head and q.kind in ("other", "place", "organisation"):  # "vành đai nào" -> "Vành đai 5"
        spans += patterns.named_after(re.escape(q.head), sent, folded, keep_head=True)
        spans += [m.span() for m in re.finditer(rf"\b{re.escape(q.head)}\s+\d+\b", folded)]
    spans = [s for s in spans if not _echoes(folded[s[0]:s[1]], q)]
    if q.head and q.kind == "organisation":  # "công ty nào": a company, not the factory next to it
        spans = [s for s in spans if patterns.contains(folded[s[0]:s[1]], q.head)] or spans
    if not spans and q.kind in ("other", "place", "organisation"):  # untyped: what sits in the slot
        return Short(*(_between(q, folded) or (0, len(folded))), typed=False)
    if not spans:
        return None
    lo, hi = _slot(q, folded)
    lo = lo if lo is not None else (hi if hi is not None else 0)
    hi = hi if hi is not None else len(folded)
    return Short(*min(spans, key=lambda s: (-_right_fit(q, folded, s), -_item_fit(q, folded, s),
                                            max(lo - s[0], s[1] - hi, 0) if lo <= hi else abs(s[0] - lo), s[0])),
                 typed=True)


def typed_spans(kind: str, sent: str, folded: str, places: frozenset[str] = frozenset(),
                q: Question | None = None) -> list[tuple[int, int]]:
    """Offsets of the candidates of one kind in a sentence (its folded form beside it): amounts, dates,
    counts of the noun `q` asks about, people, places, posts, organisations."""
    fq = q.folded if q else ""
    if kind == "money":
        return [m.span() for m in re.finditer(patterns.AMOUNT, folded)]
    if kind == "date":
        spans = [m.span() for m in re.finditer(patterns.DATE, folded)]
        if re.search(r"giai doan|nhiem ky|thoi ky", fq):
            spans = [s for s in spans if "-" in folded[s[0]:s[1]]] or spans
        return spans
    if kind == "count":
        return _counts(fq, folded)
    if kind == "person":
        return patterns.people(sent, places)
    if kind == "place":
        return _places(fq, sent, folded, places)
    if kind == "title" and q is not None:
        return _titles(q, sent, folded)
    if kind == "organisation":
        return patterns.organisations(sent, folded) + patterns.acronyms(sent)
    return []


def _item_fit(q: Question, folded: str, span: tuple[int, int]) -> int:
    """In a list of people cut by ";" ("X, Phó Bí thư…, Chủ tịch HĐND tỉnh; Y, …, Chủ tịch UBND tỉnh"), how
    many of the question's words (names aside) the candidate's own item holds; 0 outside such lists."""
    if q.kind != "person" or ";" not in folded:
        return 0
    a = folded.rfind(";", 0, span[0]) + 1
    b = folded.find(";", span[1])
    item = set(re.findall(r"\w+", folded[a:b if b >= 0 else len(folded)]))
    names = {w for e in q.entities if " " in e for w in e.split()}  # Hà Nam, not UBND: a title tells items apart
    return sum(w in item for w in set(q.words) - QUESTION_WORDS - names)


def _right_fit(q: Question, folded: str, span: tuple[int, int]) -> int:
    """How many of the words after the question word follow the candidate's number in the sentence:
    "9 nhóm nội dung phát triển kinh tế" fits "bao nhiêu | nhóm nội dung phát triển kinh tế" better than
    "4 nhóm nội dung công tác"."""
    after = folded[span[0]:].split()[1:len(q.right) + 1]
    n = 0
    while n < len(after) and after[n].strip(",.;:") == q.right[n]:
        n += 1
    return n if n >= 2 else 0


def refers_back(sent: str, folded: str) -> bool:
    """The sentence refers to a place without naming it: "hai tỉnh", "tỉnh", "hai bên", "Thủ đô" not followed
    by a name ("tỉnh Vĩnh Phúc" names one)."""
    for m in _ANAPHOR.finditer(folded):
        rest = sent[m.end():].lstrip()
        if not rest[:1].isupper():
            return True
    return False


def _echoes(piece: str, q: Question) -> bool:
    """A candidate that only repeats what the question already names is not an answer."""
    return piece.strip() in q.folded or any(patterns.contains(piece, e) and len(piece) - len(e) <= 8 for e in q.entities)


def _counts(fq: str, folded: str) -> list[tuple[int, int]]:
    """Numbers followed by the noun the question counts ("bao nhiêu nội dung" -> "8 nội dung")."""
    m = re.search(r"(?:bao nhieu|may)\s+(\w+(?:\s+\w+){0,2})", fq)
    nouns = m.group(1).split() if m else []
    numwords = r"mot|hai|ba|bon|tu|sau|bay|tam|chin|muoi|hang tram|hang nghin"
    for n in range(len(nouns), 0, -1):
        noun = re.escape(" ".join(nouns[:n]))
        spans = [x.span() for x in re.finditer(
            rf"\b(?:{patterns.NUM}|{numwords})(?:\s+(?:nghin|ngan|trieu|ty))?\s+{noun}\b", folded)]
        if spans:
            return spans
    amounts = [x.span() for x in re.finditer(patterns.AMOUNT, folded)]
    return amounts or [x.span() for x in re.finditer(rf"\b{patterns.NUM}(?:\s+\w+)?", folded)
                       if not re.fullmatch(patterns.YEAR, x.group().split()[0])]


def _titles(q: Question, sent: str, folded: str) -> list[tuple[int, int]]:
    """The post written next to the person the question names, in a list item cut by ";" or ":": before the
    name ("Phó Bí thư Thành ủy Đào Đức Toàn") or, when nothing capitalised precedes it, after it
    ("Phạm Sĩ Lợi, Phó Bí thư, Chủ tịch HĐND tỉnh")."""
    out = []
    for e in q.entities:
        at = patterns.find(folded, e)
        if at < 0 or len(e.split()) < 2:
            continue
        a = max(folded.rfind(";", 0, at), folded.rfind(":", 0, at)) + 1
        a = max([a] + [m.end() for m in re.finditer(r"\b(?:co|gom|la|cua)\s", folded[:at]) if m.start() >= a])
        before = regex.search(r"\p{Lu}.*", sent[a:at].rstrip(" ,"))
        if before:
            out.append((a + before.start(), a + before.end()))
            continue
        b = min([i for i in (folded.find(";", at), folded.find(".", at + len(e))) if i >= 0], default=len(folded))
        after = sent[at + len(e):b].strip(" ,")
        if after[:1].isupper():
            out.append((sent.index(after, at + len(e)), sent.index(after, at + len(e)) + len(after)))
    return out


def _places(fq: str, sent: str, folded: str, places: frozenset[str]) -> list[tuple[int, int]]:
    """Names after a place word, the one the question asks for when it names one ("huyện nào" -> huyện Mê
    Linh), else any; and names the corpus knows as places (Hà Nam, written without "tỉnh"). A person's full
    name after "tỉnh" (Chủ tịch HĐND tỉnh Trần Văn Vinh) is not a place."""
    asked = re.search(rf"\b({patterns.PLACE_WORDS}) nao\b", fq)
    spans = [s for s in patterns.named_after(re.escape(asked.group(1)) if asked else patterns.PLACE_HEAD, sent, folded)
             if not patterns.person_like(fold(sent[s[0]:s[1]]).split())]
    if asked and spans:
        return spans
    return spans + [m.span() for m in patterns.CAP_RUN.finditer(sent) if fold(m.group()) in places and m.span() not in spans]


def _slot(q: Question, folded: str) -> tuple[int | None, int | None]:
    """Where the answer should sit in the sentence: after the echo of the words before the question word
    and before the echo of the words after it. Either end is None when the sentence does not echo it."""
    lo = hi = None
    names = {w for e in q.entities for w in e.split()}  # named everywhere in an answer sentence: no help here
    for drop in range(min(len(q.left), 4) if q.plural else 1):  # "những cơ sở nào": the noun may be missing
        left = q.left[:len(q.left) - drop]
        for n in range(min(len(left), 5), 0, -1):
            if n == 1 and left[-1] in QUESTION_WORDS:
                break
            phrase = " ".join(left[-n:])  # "trong lĩnh vực nào": which "lĩnh vực" of the sentence
            at = _best_echo(folded, phrase, set(left[:-n]) - QUESTION_WORDS - SLOT_GLUE - names)
            if at >= 0:
                lo = at + len(" ".join(left[-n:]))
                break
        if lo is not None:
            break
    for n in range(min(len(q.right), 5), 0, -1):
        if n == 1 and q.right[0] in QUESTION_WORDS:
            break
        at = patterns.find(folded, " ".join(q.right[:n]), lo or 0)
        if at >= 0:
            hi = at
            break
    return lo, hi


def _best_echo(folded: str, phrase: str, context: set[str]) -> int:
    """Where `phrase` occurs in the sentence; of several occurrences ("trong lĩnh vực đào tạo… trong lĩnh vực
    thể thao"), the one whose preceding words hold most of `context` (the question's other words before it)."""
    best, best_fit, at = -1, -1, patterns.find(folded, phrase)
    while at >= 0:
        fit = len(context & set(folded[max(0, at - ECHO_WINDOW):at].split()))
        if fit > best_fit:
            best, best_fit = at, fit
        at = patterns.find(folded, phrase, at + 1)
    return best


def _between(q: Question, folded: str) -> tuple[int, int] | None:
    """The words in the slot, for questions without a type ("... đổi tên thành gì?" -> "San Mateo")."""
    lo, hi = _slot(q, folded)
    if lo is None and hi is None:
        return None
    if lo is not None and hi is not None and set(folded[lo:hi].split()) <= SLOT_GLUE:
        lo, hi = _echo_end(q.right, folded, hi), None  # "những lĩnh vực có thể … sau hội nghị là | văn hóa…"
    brk, most = (_LIST_BREAK, 2 * MAX_SLOT_WORDS) if q.plural else (_CLAUSE_BREAK, MAX_SLOT_WORDS)
    if lo is None:  # the question word opens the question: the answer ends the clause before the echo
        cut = max((m.end() for m in brk.finditer(folded, 0, hi)), default=0)
        lo = max(cut, _word_start(folded, hi, most))
    elif hi is None or hi - lo > 0 and len(folded[lo:hi].split()) > most:
        m = brk.search(folded, lo + 1)
        hi = min(m.start() if m else len(folded), _word_end(folded, lo, most))
        listed = _LIST.match(folded, lo)  # "công nghiệp, du lịch và dịch vụ": a list the comma does not end
        if listed and listed.end() > hi:
            hi = listed.end()
    if q.head and folded[:lo].rstrip().endswith(q.head):  # "vành đai nào" -> "vành đai 5", not "5"
        lo = len(folded[:lo].rstrip()) - len(q.head)
    piece = folded[lo:hi]
    lead = re.match(r"\s*(?:(?:la|rang|do|boi)\s+)*", piece).end()
    a, b = lo + lead, lo + len(piece.rstrip(" ,.;:"))
    return (a, b) if b > a else None


def _echo_end(words: list[str], folded: str, at: int) -> int:
    """Where the longest echo of `words` starting at `at` ends."""
    for n in range(len(words), 0, -1):
        phrase = " ".join(words[:n])
        if patterns.find(folded, phrase, at) == at:
            return at + len(phrase)
    return at


def _word_start(text: str, end: int, n: int) -> int:
    starts = [m.start() for m in re.finditer(r"\w+", text[:end])]
    return starts[-n] if len(starts) >= n else 0


def _word_end(text: str, start: int, n: int) -> int:
    ends = [m.end() for m in re.finditer(r"\w+", text[start:])]
    return start + (ends[n - 1] if len(ends) >= n else len(text) - start)


def _phrase_overlap(q: Question, folded: str) -> float:
    """Length of the longest run of the question's words found verbatim in the sentence, as a share of
    the question's non-question words: "Bí thư Thành ủy Hà Nội" beats a sentence that has the words apart."""
    useful = sum(w not in QUESTION_WORDS for w in q.words) or 1
    for n in range(len(q.words), 1, -1):
        for i in range(len(q.words) - n + 1):
            if patterns.contains(folded, " ".join(q.words[i:i + n])):
                return min(1.0, n / useful)
    return 0.0


def names(folded_text: str, entity: str) -> bool:
    """The text names the entity: verbatim, or for long names most of their syllables (Los Angeles Clippers)."""
    if patterns.contains(folded_text, entity):
        return True
    syl = entity.split()
    return len(syl) >= 3 and sum(patterns.contains(folded_text, x) for x in syl) >= 2 * len(syl) / 3
