"""Follow-up questions in a conversation: after "Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?", "còn Hà Nam thì
sao?" is asked as "Hà Nội tặng Hà Nam bao nhiêu tiền?".

Only a question that reads as a follow-up is rewritten ("còn X (thì sao)?", "thế còn X?", "X thì sao?",
with or without diacritics). With a language model set, it rewrites the question from the conversation;
without one, or when its rewrite is unusable, the previous question keeps its frame and its last name (a
run of capitalised words) is replaced by the follow-up's.
"""
from __future__ import annotations

import re

from .answer import _CAP_RUN
from .config import Settings
from .normalise import clean, fold, fold_aligned

_FOLLOW = re.compile(r"^\s*(?:(?:vay|the|the con|vay con)\s+)?(?:con\s+)?(?P<x>.+?)\s*(?:thi sao|thi the nao|the nao|ra sao)?\s*\?*\s*$")
_OPENERS = re.compile(r"^\s*(?:(?:vay|the)\s+)?con\s|\s(?:thi sao|thi the nao|ra sao)\s*\?*\s*$")
MAX_WORDS = 8  # longer questions stand on their own

REWRITE = """Đây là các câu hỏi trước trong một cuộc trò chuyện:
{history}
Câu hỏi tiếp theo: {question}
Viết lại câu hỏi tiếp theo thành một câu hỏi đầy đủ, tự hiểu được. Chỉ viết câu hỏi đó."""


def is_followup(question: str) -> bool:
    text = fold_aligned(clean(question))
    return len(text.split()) <= MAX_WORDS and _OPENERS.search(text) is not None


def rewrite(question: str, history: list[str], settings: Settings | None = None) -> str:
    """The question to ask: `question` itself, unless it follows up on the last of `history` (questions
    asked before, oldest first)."""
    history = [h for h in history if isinstance(h, str) and h.strip()]
    if not history or not is_followup(question):
        return question
    subject = _subject(question)
    if settings is not None and settings.llm_url:  # a rewrite that drops the follow-up's subject is not used
        asked = _by_model(question, history, settings)
        if asked and fold(asked) != fold(history[-1]) and (not subject or fold(subject) in fold(asked)):
            return asked
    return by_rule(question, history[-1]) or question


def by_rule(question: str, previous: str) -> str | None:
    """The previous question with its last name replaced by the follow-up's subject; None when either
    has none."""
    subject, prev = _subject(question), clean(previous)
    names = [n for n in _CAP_RUN.finditer(prev) if n.start() > 0 or len(n.group().split()) > 1]
    if not subject or not names:
        return None
    return prev[:names[-1].start()] + subject + prev[names[-1].end():]


def _subject(question: str) -> str:
    """What a follow-up asks about instead: "Hà Nam" in "còn Hà Nam thì sao?" ("" when none)."""
    text = clean(question).strip()
    m = _FOLLOW.match(fold_aligned(text))
    return text[m.start("x"):m.end("x")].strip(" ,?") if m else ""


def _by_model(question: str, history: list[str], settings: Settings) -> str | None:
    """The model's rewrite, when it answers with one question-like line within the limits."""
    from .generate import client, failure

    prompt = REWRITE.format(history="\n".join(f"- {h}" for h in history[-3:]), question=question)
    try:
        reply = client(settings).chat.completions.create(model=settings.llm_model, temperature=0, max_tokens=64,
                                                          messages=[{"role": "user", "content": prompt}])
        line = (reply.choices[0].message.content or "").strip().splitlines()
    except Exception as e:  # noqa: BLE001 - the rule rewrites instead
        failure(settings, e)
        return None
    asked = line[0].strip(" -*\"'") if line else ""
    return asked if 3 <= len(asked) <= settings.max_question_chars and len(asked.split()) <= 40 else None
