"""Checking a generated answer against the passages it cites, sentence by sentence.

A sentence is verified when every passage it cites ([n]) exists, and every claim it makes (a number, an
amount with its unit, a date, a name) appears in one of the passages it cites. Matching is on the folded
form (NFC, one tone placement, case and diacritics dropped, spaces collapsed), so "Vĩnh Phúc", "vinh phuc"
and "VĨNH PHÚC" are one name, and numbers are compared without thousands separators (10.900 = 10900). A
sentence without claims needs no citation; one with claims and no citation is not verified. This is a
check of what can be checked by matching, not of meaning: a claim made of common words passes unseen.
"""
from __future__ import annotations

import re

import regex

from qa.text import patterns
from qa.text.normalise import canonical, fold
from qa.text.split import sentences
from qa.types import CheckedSentence

_CITE = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_CITE_AFTER_STOP = re.compile(r"([.!?…])(\[\d+(?:\s*[,;]\s*\d+)*\](?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])*)(?=\s)")
_LEADING_CITES = re.compile(r"^(?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])+")
_THOUSANDS = re.compile(r"(?<=\d)\.(?=\d{3}\b)")
_TITLES = {"ông", "bà"}
_LEADERS = {"theo", "tai", "o", "trong", "sau", "khi", "voi", "cho", "ve", "tu", "den", "nam", "ngay", "thang", "va",
            "nhung", "con", "do", "nhu", "vi", "neu", "tinh", "thanh", "pho"}  # a sentence's capitalised first word
_LIST_MARK = re.compile(r"^\s*(?:\d+[.)]|[-*•])(?:\s+|$)")
NOT_FOUND = "không tìm thấy"  # what the prompt asks the model to say when the passages do not answer


def folded(text: str) -> str:
    """The form claims are matched in."""
    return " ".join(_THOUSANDS.sub("", fold(canonical(text))).split())


def check(text: str, passages: list[str]) -> list[CheckedSentence]:
    """Each sentence of the generated `text`, its citations (1-based, as written) and the claims that no
    cited passage holds."""
    spaced = _CITE_AFTER_STOP.sub(r"\1 \2", text)  # "… đồng.[1] Sau đó": a sentence ends there too
    pieces = [spaced[a:b] for a, b in sentences(spaced)]
    for i in range(1, len(pieces)):  # "… đồng.[1] Sau đó …": the [1] belongs to the sentence before
        lead = _LEADING_CITES.match(pieces[i])
        if lead:
            pieces[i - 1] += lead.group()
            pieces[i] = pieces[i][lead.end():].strip()
    sources = [folded(p) for p in passages]
    out = []
    for piece in (p for p in pieces if p.strip()):
        cited = [int(n) for group in _CITE.findall(piece) for n in re.split(r"\s*[,;]\s*", group)]
        bad = [f"[{n}]" for n in cited if not 1 <= n <= len(passages)]
        where = [sources[n - 1] for n in cited if 1 <= n <= len(passages)]
        unsupported = [c for c in claims(_CITE.sub(" ", piece)) if not any(_holds(s, c) for s in where)]
        out.append(CheckedSentence(piece, cited, not bad and not unsupported, bad + unsupported))
    return out


def claims(sentence: str) -> list[str]:
    """What a sentence asserts that can be matched: amounts with their unit, dates, other numbers, and
    names (runs of capitalised words, a single one only past the sentence's first word), each folded."""
    sentence = _LIST_MARK.sub("", sentence)  # "1. …", "- …": a list's marks are not claims
    f = folded(sentence)
    found, taken = [], []
    for pattern in (patterns.AMOUNT, patterns.NUMERIC_DATE, patterns.NUM):
        for m in re.finditer(pattern, f):
            if not any(a <= m.start() < b for a, b in taken):
                found.append(m.group().strip())
                taken.append(m.span())
    text = canonical(sentence).strip()
    for m in patterns.CAP_RUN.finditer(text):
        words = m.group().split()
        if (m.start() == 0 and len(words) == 1) or (len(words) > 1 and folded(words[0]) in _LEADERS):
            words = words[1:]  # a word capitalised as a sentence's or clause's first: "Theo Bộ Y tế", "Tại Huế"
        if len(words) > 1 and words[0].lower() in _TITLES:  # "Ông Nguyễn Văn A": the name is what must match
            words = words[1:]
        if words:
            found.append(folded(" ".join(words)))
    return list(dict.fromkeys(c for c in found if c))


def _holds(source: str, claim: str) -> bool:
    """Whether the folded passage holds the folded claim as whole words (5 is not in 2,5)."""
    return regex.search(rf"(?<![\p{{L}}\d])(?<!\d[.,]){regex.escape(claim)}(?![\p{{L}}\d])(?![.,]\d)", source) is not None


def says_not_found(text: str) -> bool:
    """Whether the whole answer is the prompt's "không tìm thấy" (a sentence that merely uses the words is not)."""
    words = regex.sub(r"[^\p{L}\d ]", " ", folded(_CITE.sub(" ", text))).split()
    return " ".join(words[:3]) == folded(NOT_FOUND) and len(words) <= 12
