"""Reading a question: checked and cleaned once (`check_question`), and its words for BM25 (`search_text`)."""
from __future__ import annotations

from qa.text.normalise import canonical, clean

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
