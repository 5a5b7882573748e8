"""Training questions for the reader, made from articles (no human labels; Lewis et al. 2019, Fabbri et al. 2020).

Vietnamese asks in place, so a sentence whose answer is replaced by the question phrase of its type is
already a question: "Hà Nội tặng Vĩnh Phúc 3 tỷ đồng" -> "Hà Nội tặng Vĩnh Phúc bao nhiêu tiền". Answers
are the spans the type checks of `qa/answer/rules.py` find (amounts, numbers with their noun, dates, people,
places, organisations). Questions are then trimmed to the words near the answer, and some are typed in
lower case or without diacritics. Besides these "cloze" examples:

- paraphrase: the question asked of a *different* article's sentence holding the same answer and enough
  of the question's words, so the reader learns meaning rather than word overlap;
- unanswerable: the question against another passage of its article that lacks the answer, against the
  passage of another article that shares most of its rarer words (what retrieval puts beside the right
  one), and the question with its place or person swapped for another of that type ("no answer" each way).

Each example is a dict: question, context, answer (text, "" for none), answer_start (in context, -1 for
none), kind, how (cloze | paraphrase | other-passage | other-article | swapped), doc_id.
"""
from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator

from qa.answer import rules
from qa.config import Settings
from qa.index import lexicon
from qa.text import patterns
from qa.text.normalise import fold, fold_aligned, has_diacritics
from qa.text.question import QUESTION_WORDS
from qa.text.split import sentences
from qa.types import Document

MIN_SENTENCE, MAX_SENTENCE = 40, 400  # characters
MAX_CONTEXT = Settings.reader_context_chars  # characters of context around the answer sentence, as served
PER_DOC = 4  # questions made from one article at most
_DATE_WORDS = {"ngay": "ngày nào", "thang": "tháng nào", "nam": "năm nào", "giai": "giai đoạn nào",
               "nhiem": "nhiệm kỳ nào", "thoi": "thời kỳ nào", "the": "thế kỷ nào"}
_ORG_PHRASES = {"cong ty": "công ty nào", "tong cong ty": "tổng công ty nào", "tap doan": "tập đoàn nào",
                "ngan hang": "ngân hàng nào", "truong": "trường nào", "benh vien": "bệnh viện nào",
                "so": "sở nào", "bo": "bộ nào"}
_PLACE_PHRASES = {"tinh": "tỉnh nào", "thanh pho": "thành phố nào", "tp": "thành phố nào", "huyen": "huyện nào",
                  "quan": "quận nào", "thi xa": "thị xã nào", "xa": "xã nào", "phuong": "phường nào",
                  "thi tran": "thị trấn nào"}
_HONORIFIC = re.compile(r"(?:\b(?:ông|bà|anh|chị|ngài)\s+)$", re.IGNORECASE)
_COUNT = re.compile(rf"\b({patterns.NUM})(?:\s+(?:nghin|ngan|trieu|ty))?\s+(\w+)(\s+\w+)?")
_OTHER_PHRASES = {"là": "là gì", "để": "để làm gì", "nhằm": "nhằm mục đích gì", "vì": "vì sao", "bởi vì": "vì sao",
                  "do": "do đâu", "nhờ": "nhờ đâu"}
_NAMED_HEADS = {"dự án": "dự án nào", "chương trình": "chương trình nào", "giải": "giải nào", "cuộc thi": "cuộc thi nào",
                "sản phẩm": "sản phẩm nào", "dòng": "dòng nào", "mẫu": "mẫu nào", "phim": "phim nào",
                "ca khúc": "ca khúc nào", "đội": "đội nào", "clb": "câu lạc bộ nào", "chiến dịch": "chiến dịch nào",
                "hội nghị": "hội nghị nào", "lễ hội": "lễ hội nào", "tuyến": "tuyến nào", "cảng": "cảng nào"}
_OTHER = re.compile(r"(?<!\w)(?:" + "|".join(sorted(_OTHER_PHRASES, key=len, reverse=True)) + r")\s+")
_HEADS = re.compile(r"(?<!\w)(?:" + "|".join(sorted(_NAMED_HEADS, key=len, reverse=True)) + r")[ \t]+")
_CLAUSE_END = re.compile(r"[,;:.!?()\"“”]|\s-\s|(?<!\w)(?:và|nhưng|còn|khi|nếu)(?!\w)")
_NAMED_AFTER_PERSON = re.compile(r"\b(?:duong|pho|phuong|quan|xa|huyen|tinh|cau|truong|thpt|thcs|benh vien|cho|cong vien"
                                 r"|khu|san|ten|giai|hem|ngo|so)\s*$")
_PERSON_CUE = re.compile(  # roles written before a person's name, folded; a country may come between ("Tổng thống Mỹ")
    r"\b(?:ong|ba|cau thu|tien dao|tien ve|hau ve|thu mon|hlv|huan luyen vien|tong thong|thu tuong|ngoai truong|"
    r"bo truong|ca si|dien vien|nha van|tac gia|giao su|tien si|ty phu|ceo|giam doc|chu tich|nguoi mau|vo si|"
    r"tay vot|nha khoa hoc|nhac si|dao dien)(?:\s+\w+){0,2}\s*$")
_PERCENT = re.compile(rf"\b{patterns.NUM}\s*%")
_NOT_NOUN = {fold(w) for w in patterns.ORG_STOP} | {"nay", "do", "nua", "moi", "khac", "lien", "nhu", "hon", "roi"}
_NOT_COUNTED = {"ty", "trieu", "nghin", "dong", "usd", "va", "den", "toi", "la", "trong", "cua", "so", "ban"}


def spans(kind: str, sent: str, folded: str, places: frozenset[str]) -> list[tuple[int, int]]:
    """Answer candidates of one kind in a sentence: the type checks' spans (a count is a number and its noun);
    for "other", what follows là / để / vì (a definition, a purpose, a reason) and a name after a common head."""
    if kind == "other":  # matched on the accented text: folded "do" would also be đó, đỏ, độ
        lower, out = sent.lower(), []
        for m in _OTHER.finditer(lower):
            end = _CLAUSE_END.search(lower, m.end())
            words = list(re.finditer(r"\S+", sent[m.end():end.start() if end else len(sent)]))
            if 2 <= len(words) <= 10:
                out.append((m.end(), m.end() + words[-1].end()))
        caps = {m.start(): m.end() for m in patterns.CAP_RUN.finditer(sent)}
        out += [(m.end(), caps[m.end()]) for m in _HEADS.finditer(lower) if m.end() in caps]
        return out
    if kind == "count":
        taken = [m.span() for m in re.finditer(patterns.AMOUNT + "|" + patterns.DATE, folded)]
        out = []
        for m in _COUNT.finditer(folded):
            if (m.group(2) in _NOT_COUNTED or m.group(2) in _NOT_NOUN or m.group(2).isdigit() or not sent[m.start(2)].islower() or len(m.group(1)) > 7
                    or re.search(r"(?:\bso|[-/.,])\s*$", folded[:m.start()]) or any(a <= m.start() < b for a, b in taken)):
                continue
            second = m.group(3)  # nouns are often two syllables: "468 tổ chức"
            two = second and sent[m.start(3) + 1].islower() and second.strip() not in _NOT_NOUN
            out.append((m.start(), m.end(3) if two else m.end(2)))
        return out + [m.span() for m in _PERCENT.finditer(folded)]
    if kind == "place":  # names after a place word or tại/ở; not the lexicon's, which holds words that open sentences
        return [(a, b) for a, b in patterns.named_after(patterns.PLACE_HEAD, sent, folded)
                if not patterns.person_like(folded[a:b].split())]
    if kind == "organisation":  # a head and a capitalised name: "Sở Công Thương", not "Bộ trưởng" nor "HLV X"
        return [(a, b) for a, b in patterns.organisations(sent, folded)
                if len(sent[a:b].split()) >= 2 and sent[a:b].split()[1][:1].isupper()]
    found = rules.typed_spans(kind, sent, folded, places)
    if kind == "person":  # Vietnamese full names, not a street or a school named after one; foreign names after a role
        out = [(a, b) for a, b in found if (patterns.person_like(folded[a:b].split()) or  # two syllables: Hồ Tây too
               len(folded[a:b].split()) == 2 and folded[a:b].split()[0] in patterns.SURNAMES
               and _PERSON_CUE.search(folded[max(0, a - 40):a])) and not _NAMED_AFTER_PERSON.search(folded[max(0, a - 20):a])]
        foreign = [x for a, b in found for x in [_foreign_name(sent, a, b)] if x and x not in out]
        return out + [(a, b) for a, b in foreign if _PERSON_CUE.search(folded[max(0, a - 40):a])]
    return found


def _foreign_name(sent: str, a: int, b: int) -> tuple[int, int] | None:
    """The 2-3 words without diacritics that end a capitalised run ("Mỹ Donald Trump", "HLV Jose Mourinho")."""
    words = list(re.finditer(r"\S+", sent[a:b]))
    while words and (has_diacritics(words[0].group()) or words[0].group().isupper()):
        words = words[1:]
    if not 2 <= len(words) <= 3 or any(has_diacritics(w.group()) or w.group().isupper() for w in words):
        return None
    return a + words[0].start(), a + words[-1].end()


def phrase(kind: str, answer: str, before: str, rng: random.Random) -> tuple[str, int]:
    """The question phrase that stands for `answer` and how many characters before it it also replaces
    (a place word, "ông"): "tỉnh Vĩnh Phúc" -> "tỉnh nào"."""
    fa = fold(answer)
    if kind == "money":
        unit = fa.split()[-1]
        return ("bao nhiêu tiền" if rng.random() < 0.7 or unit.isdigit() else "bao nhiêu " + answer.split()[-1]), 0
    if kind == "count":
        if answer.endswith("%"):
            return "bao nhiêu phần trăm", 0
        noun = answer.split(maxsplit=1)[1] if " " in answer else ""
        small = fa.split()[0].isdigit() and int(fa.split()[0]) < 10
        return ("mấy " if small and rng.random() < 0.5 else "bao nhiêu ") + noun, 0
    if kind == "date":
        head = fa.split()[0]
        return (_DATE_WORDS.get(head, "khi nào") if rng.random() < 0.7 else "khi nào"), 0
    if kind == "person":
        m = _HONORIFIC.search(before)
        return "ai", len(m.group()) if m else 0
    if kind == "place":
        fb = fold(before).rstrip()
        for word in sorted(_PLACE_PHRASES, key=len, reverse=True):
            if fb.endswith(" " + word) or fb == word:
                return _PLACE_PHRASES[word], len(before) - len(before.rstrip()) + len(word)
        prep = re.search(r"\b(?:tai|o)\s*$", fb)
        if prep:
            return rng.choice(["ở đâu", "tại đâu"]), len(before) - prep.start()
        for word in ("duong", "song", "cau", "vung", "khu"):
            if fb.endswith(" " + word):
                return before.rstrip().split()[-1] + " nào", len(before) - len(before.rstrip()) + len(word)
        return rng.choice(["địa phương nào", "nơi nào"]), 0
    if kind == "organisation":
        for head in sorted(_ORG_PHRASES, key=len, reverse=True):
            if fa.startswith(head + " "):
                return _ORG_PHRASES[head], 0
        return rng.choice(["cơ quan nào", "đơn vị nào", "tổ chức nào"]), 0
    if kind == "other":
        lb = before.lower().rstrip()
        for table in (_NAMED_HEADS, _OTHER_PHRASES):
            for head in sorted(table, key=len, reverse=True):
                if lb.endswith(" " + head) or lb == head:
                    return table[head], len(before) - len(before.rstrip()) + len(head)
        return "gì", 0
    raise ValueError(kind)


def make_question(sent: str, a: int, b: int, kind: str, rng: random.Random) -> str | None:
    """The sentence with sent[a:b] replaced by its question phrase, cut to the answer's clause (and some
    words of its neighbours), so the question is worded like a user's, not like the whole sentence."""
    ph, eat = phrase(kind, sent[a:b], sent[:a], rng)
    left, right = sent[:a - eat].split(), sent[b:].split()
    if kind == "person" and _titled(left) and rng.random() < 0.6:  # "Bí thư Tỉnh ủy Vĩnh Phúc | Hoàng Thị Thúy Lan"
        left, ph, right = left[-rng.randint(3, 7):], "là ai", []
    breaks = [i + 1 for i, w in enumerate(left[:-1]) if w[-1:] in ",;:"]
    start = next((i for i in reversed(breaks) if len(left) - i >= 3), 0)
    left = left[start:]
    if len(left) > 14:  # a long clause: from a word after a comma-less break, as people shorten it
        left = left[-rng.randint(8, 14):]
    end = next((i for i, w in enumerate(right) if w[-1:] in ",;:.!?" and i >= 2), len(right) - 1)
    right = right[:min(end + 1, rng.randint(5, 12))]
    if len(_content(" ".join(left + right))) < 3:
        return None
    if ph == "vì sao" and rng.random() < 0.5:
        left, ph, right = [], "vì sao " + " ".join(left), []
    q = " ".join(left + ph.split() + right).strip(" ,;:.\"“”'()-")
    q = q[0].upper() + q[1:]
    r = rng.random()
    if r < 0.15:
        q = fold(q)
    elif r < 0.25:
        q = q.lower()
    return q + ("?" if rng.random() < 0.6 else "")


def _titled(words: list[str]) -> bool:
    return bool(words) and words[-1][:1].isupper()


def context_around(text: str, spans_: list[tuple[int, int]], j: int, rng: random.Random) -> tuple[int, int]:
    """A window of whole sentences holding sentence j, at most MAX_CONTEXT characters when it can be."""
    lo = hi = j
    while True:
        grow = [x for x in (lo - 1, hi + 1) if 0 <= x < len(spans_)
                and spans_[max(hi, x)][1] - spans_[min(lo, x)][0] <= MAX_CONTEXT]
        if not grow or rng.random() < 0.2:
            break
        x = rng.choice(grow)
        lo, hi = min(lo, x), max(hi, x)
    return spans_[lo][0], spans_[hi][1]


KINDS = ("money", "count", "date", "person", "place", "organisation", "other")


def generate(docs: Iterable[Document], seed: int = 0, places: frozenset[str] | None = None) -> Iterator[dict]:
    """Training examples from `docs` (see the module docstring); deterministic for a seed."""
    rng = random.Random(seed)
    docs = list(docs)
    if places is None:
        places = set().union(*(lexicon.found(d.text)[1] for d in docs))
    made: list[dict] = []
    by_answer: dict[str, list[tuple[int, int, int, int]]] = defaultdict(list)  # answer -> (doc, sent, a, b)
    entities: dict[str, set[str]] = {"place": set(), "person": set()}
    sent_spans = []
    for di, doc in enumerate(docs):
        text, folded = doc.text, fold_aligned(doc.text)
        ss = sentences(text)
        sent_spans.append(ss)
        found = []
        for j, (sa, sb) in enumerate(ss):
            if not MIN_SENTENCE <= sb - sa <= MAX_SENTENCE or "|" in text[sa:sb]:
                continue
            for kind in KINDS:
                for a, b in spans(kind, text[sa:sb], folded[sa:sb], places):
                    ans = text[sa + a:sa + b].strip(" ,.;:")
                    if not ans or len(ans) > 60:
                        continue
                    a = sa + a + text[sa + a:sa + b].find(ans)
                    found.append((kind, j, a, a + len(ans)))
                    if kind in ("person", "place", "organisation", "money") and len(ans.split()) >= 2:
                        by_answer[fold(ans)].append((di, j, a, a + len(ans)))
                    if kind in entities:
                        entities[kind].add(ans)
        rng.shuffle(found)
        per_kind: Counter = Counter()
        for kind, j, a, b in found:
            if len(made) and sum(1 for m in made[-PER_DOC:] if m["doc_id"] == doc.id) >= PER_DOC:
                break
            if per_kind[kind] >= (1 if kind == "other" else 2):  # "là" is in every article: one of those at most
                continue
            sa, sb = ss[j]
            q = make_question(text[sa:sb], a - sa, b - sa, kind, rng)
            if q is None:
                continue
            per_kind[kind] += 1
            ca, cb = context_around(text, ss, j, rng)
            made.append({"question": q, "context": text[ca:cb], "answer": text[a:b], "answer_start": a - ca,
                         "kind": kind, "how": "cloze", "doc_id": doc.id, "_at": (di, j, a, b)})
    out = []
    pools = {k: {fold(e): e for e in sorted(v) if len(e.split()) >= 2} for k, v in entities.items()}
    postings = _postings(docs, sent_spans)
    for ex in made:
        di, j, a, b = ex.pop("_at")
        out.append(ex)
        doc = docs[di]
        partner = _partner(ex, di, by_answer.get(fold(ex["answer"]), []), docs, sent_spans, rng)
        if partner is not None:
            out.append(partner)
        r = rng.random()
        if r < 0.25:
            neg = _other_passage(ex, doc, sent_spans[di], j, rng)
        elif r < 0.45:
            neg = _swapped(ex, pools, rng)
        elif r < 0.85:
            neg = _other_article(ex, di, postings, docs, sent_spans, rng)
        else:
            neg = None
        if neg is not None:
            out.append(neg)
    rng.shuffle(out)
    return iter(out)


def _content(text: str) -> set[str]:
    return {w for w in re.findall(r"\w+", fold(text)) if w not in QUESTION_WORDS and not w.isdigit()}


def _partner(ex: dict, di: int, same: list[tuple[int, int, int, int]], docs: list[Document], sent_spans,
             rng: random.Random) -> dict | None:
    """The question against another article's sentence holding the same answer and at least 40 % of the
    question's other words (but not a copy of the first sentence)."""
    qwords = _content(ex["question"]) - _content(ex["answer"])
    if len(qwords) < 3:
        return None
    first = _content(ex["context"])
    for dj, j, a, b in rng.sample(same, min(len(same), 8)):
        if dj == di:
            continue
        text = docs[dj].text
        sa, sb = sent_spans[dj][j]
        have = _content(text[sa:sb])
        share = len(qwords & have) / len(qwords)
        if share >= 0.4 and len(have & first) < 0.8 * len(have):
            ca, cb = context_around(text, sent_spans[dj], j, rng)
            return {**ex, "context": text[ca:cb], "answer": text[a:b], "answer_start": a - ca, "how": "paraphrase",
                    "doc_id": docs[dj].id}
    return None


def _bigrams(text: str) -> set[str]:
    """Pairs of neighbouring folded syllables: Vietnamese words are mostly two syllables, and one is too common."""
    syl = re.findall(r"\w+", fold(text))
    return {f"{a} {b}" for a, b in zip(syl, syl[1:]) if a not in QUESTION_WORDS and b not in QUESTION_WORDS}


def _postings(docs: list[Document], sent_spans) -> dict[str, list[tuple[int, int]]]:
    """Syllable pair -> the (article, sentence) pairs holding it, for pairs rare enough to tell stories apart."""
    postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for di, doc in enumerate(docs):
        for j, (sa, sb) in enumerate(sent_spans[di]):
            if not MIN_SENTENCE <= sb - sa <= MAX_SENTENCE:  # as the answers' sentences: a window fits around it
                continue
            for w in _bigrams(doc.text[sa:sb]):
                postings[w].append((di, j))
    too_common = max(20, len(docs) // 100)
    return {w: p for w, p in postings.items() if len(p) <= too_common}


def _other_article(ex: dict, di: int, postings, docs: list[Document], sent_spans, rng: random.Random) -> dict | None:
    """The question against the window of another article that shares most of its rarer words but not its
    answer: what retrieval puts beside the right passage, and what the reader must not answer from."""
    shared = Counter(at for w in _bigrams(ex["question"]) - _bigrams(ex["answer"]) for at in postings.get(w, ())
                     if at[0] != di)
    for (dj, j), n in shared.most_common(3):
        if n < 2:
            break
        ca, cb = context_around(docs[dj].text, sent_spans[dj], j, rng)
        said = set(re.findall(r"\w+", fold(ex["answer"])))  # nor half of its words: "Bộ An ninh nội địa" told otherwise
        if len(said & set(re.findall(r"\w+", fold(docs[dj].text[ca:cb])))) < len(said) / 2:
            return {**ex, "context": docs[dj].text[ca:cb], "answer": "", "answer_start": -1, "how": "other-article",
                    "doc_id": docs[dj].id}
    return None


def _other_passage(ex: dict, doc: Document, ss, j: int, rng: random.Random) -> dict | None:
    """The question against a window of its article that does not hold the answer."""
    others = [k for k in range(len(ss)) if abs(k - j) > 2]
    rng.shuffle(others)
    for k in others[:5]:
        ca, cb = context_around(doc.text, ss, k, rng)
        if fold(ex["answer"]) not in fold(doc.text[ca:cb]):
            return {**ex, "context": doc.text[ca:cb], "answer": "", "answer_start": -1, "how": "other-passage"}
    return None


def _swapped(ex: dict, pools: dict[str, dict[str, str]], rng: random.Random) -> dict | None:
    """The question with a place or person it names replaced by another of that type, which the context
    does not name: the context no longer answers it."""
    q, fc = ex["question"], fold(ex["context"])
    fq = fold_aligned(q)
    found = []
    for kind in ("place", "person"):
        pool = pools.get(kind) or {}
        for m in re.finditer(r"\w+(?:\s+\w+){1,3}", fq):  # every run of 2-4 words that the pool knows
            words = m.group().split()
            for n in range(len(words), 1, -1):
                for i in range(len(words) - n + 1):
                    name = " ".join(words[i:i + n])
                    if name in pool:
                        at = m.start() + len(" ".join(words[:i])) + (1 if i else 0)
                        found.append((kind, at, at + len(name)))
    if not found:
        return None
    kind, a, b = rng.choice(found)
    names = list(pools[kind].values())
    for new in rng.sample(names, min(len(names), 20)):
        if fold(new) not in fc and fold(new) != fq[a:b]:
            swapped = q[:a] + (fold(new) if fold(q) == q else new) + q[b:]
            return {**ex, "question": swapped, "answer": "", "answer_start": -1, "how": "swapped"}
    return None


def stats(examples: list[dict]) -> dict:
    """Counts by kind and by how the example was made."""
    return {"examples": len(examples), "answerable": sum(e["answer_start"] >= 0 for e in examples),
            "by_kind": dict(Counter(e["kind"] for e in examples).most_common()),
            "by_how": dict(Counter(e["how"] for e in examples).most_common())}
