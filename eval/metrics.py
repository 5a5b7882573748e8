"""Scoring answers against gold aliases (SQuAD-style) and retrieval against gold articles."""
from __future__ import annotations

import re
import string
from collections import Counter

from qa.text.normalise import canonical

_PUNCT = re.compile("[" + re.escape(string.punctuation + "“”‘’…–—«»") + "]")


def norm(text: str) -> str:
    """NFC, one tone placement, lowercase, punctuation removed, spaces collapsed (dots in 10.900 too)."""
    return " ".join(_PUNCT.sub(" ", canonical(text).lower()).split())


def contains(answer: str, aliases: list[str]) -> bool:
    a = f" {norm(answer)} "
    return bool(answer.strip()) and any(f" {norm(g)} " in a for g in aliases if norm(g))


def exact(answer: str, aliases: list[str]) -> bool:
    return any(norm(answer) == norm(g) for g in aliases)


def f1(answer: str, aliases: list[str]) -> float:
    """Best token F1 over the aliases."""
    pred = norm(answer).split()
    best = 0.0
    for g in aliases:
        gold = norm(g).split()
        common = sum((Counter(pred) & Counter(gold)).values())
        if common:
            p, r = common / len(pred), common / len(gold)
            best = max(best, 2 * p * r / (p + r))
    return best


def reciprocal_rank(ranked: list, relevant: set) -> float:
    for i, x in enumerate(ranked, 1):
        if x in relevant:
            return 1.0 / i
    return 0.0


def recall_at(ranked: list, relevant: set, k: int) -> float:
    return float(any(x in relevant for x in ranked[:k]))
