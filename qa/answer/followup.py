"""Follow-up questions in a conversation: after "Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?", "còn Hà Nam thì
sao?" is asked as "Hà Nội tặng Hà Nam bao nhiêu tiền?".

Only a question that reads as a follow-up is rewritten ("còn X (thì sao)?", "thế còn X?", "X thì sao?",
with or without diacritics). With a language model set, it rewrites the question from the conversation;
without one, or when its rewrite is unusable, the previous question keeps its frame and its last name (a
run of capitalised words) is replaced by the follow-up's.
"""
from __future__ import annotations

import re

from qa.answer.generate import available, client, failure
from qa.config import Settings
from qa.text import patterns
from qa.text.normalise import canonical, clean, fold, fold_aligned, has_diacritics

_FOLLOW = [re.compile(p) for p in (  # on the lowercase question as typed: "còn" is not "cơn" or "con"
    r"^(?:(?:vậy|thế)\s+)?còn\s+(?P<x>.+?)(?:\s+thì\s+(?:sao|thế nào|ra sao))?\s*\?*$",
    r"^(?P<x>.+?)\s+thì\s+(?:sao|thế nào)\s*\?*$")]
MAX_WORDS, MAX_SUBJECT_WORDS = 8, 5  # a follow-up is short, and so is what it asks about ("còn tỉnh Hà Nam")

REWRITE = """Đây là các câu hỏi trước trong một cuộc trò chuyện:
{history}
Câu hỏi tiếp theo: {question}
Viết lại câu hỏi tiếp theo thành một câu hỏi đầy đủ, tự hiểu được. Chỉ viết câu hỏi đó."""


def is_followup(question: str) -> bool:
    return bool(_subject(question))


def rewrite(question: str, history: list[str], settings: Settings | None = None) -> str:
    """The question to ask: `question` itself, unless it follows up on the last of `history` (questions
    asked before, oldest first)."""
    history = [h for h in history if isinstance(h, str) and h.strip()]
    subject = _subject(question)
    if not history or not subject:
        return question
    history = _resolved(history)
    if settings is not None and settings.llm_url:  # a rewrite that drops the follow-up's subject is not used
        asked = _by_model(question, history, settings)
        if asked and fold(asked) != fold(history[-1]) and (not subject or fold(subject) in fold(asked)):
            return asked
    return by_rule(question, history[-1]) or question


def _resolved(history: list[str]) -> list[str]:
    """Earlier questions that were follow-ups themselves, read by the rule against theirs (the API's history
    holds questions as typed): "còn Nam Định?" after "còn Hà Nam?" after a whole question."""
    out: list[str] = []
    for h in history:
        out.append((by_rule(h, out[-1]) if out and _subject(h) else None) or h)
    return out


def by_rule(question: str, previous: str) -> str | None:
    """The previous question with its last name replaced by the follow-up's subject; None when either
    has none."""
    subject, prev = _subject(question), clean(previous)
    names = [n for n in patterns.CAP_RUN.finditer(prev) if n.start() > 0 or len(n.group().split()) > 1]
    if not subject or not names:
        return None
    return prev[:names[-1].start()] + subject + prev[names[-1].end():]


def _subject(question: str) -> str:
    """What a follow-up asks about instead: "Hà Nam" in "còn Hà Nam thì sao?" ("" when it is no follow-up).
    A question typed without diacritics is matched in that form ("con Ha Nam thi sao")."""
    text = canonical(question).strip()
    if len(text.split()) > MAX_WORDS:
        return ""
    form = text.lower() if has_diacritics(text) else _accented(fold_aligned(text))
    for pattern in _FOLLOW:
        if m := pattern.match(form):
            subject = text[m.start("x"):m.end("x")].strip(" ,?")
            return subject if 0 < len(subject.split()) <= MAX_SUBJECT_WORDS else ""
    return ""


def _accented(folded: str) -> str:
    """An unaccented question's cue words spelled as the patterns spell them (lengths kept: offsets hold)."""
    for plain, marked in (("vay", "vậy"), ("the nao", "thế nào"), ("the", "thế"), ("con", "còn"), ("thi", "thì")):
        folded = re.sub(rf"\b{plain}\b", marked, folded)
    return folded


def _by_model(question: str, history: list[str], settings: Settings) -> str | None:
    """The model's rewrite, when it answers with one question-like line within the limits."""
    if not available(settings):  # a server that just failed is left alone: the rule answers at once
        return None
    prompt = REWRITE.format(history="\n".join(f"- {h[:settings.max_question_chars]}" for h in history[-3:]),
                            question=question)
    try:
        reply = client(settings).chat.completions.create(model=settings.llm_model, temperature=0, max_tokens=64,
                                                          messages=[{"role": "user", "content": prompt}],
                                                          timeout=min(settings.llm_timeout, settings.followup_rewrite_seconds))
        line = (reply.choices[0].message.content or "").strip().splitlines()
    except Exception as e:  # noqa: BLE001 - the rule rewrites instead
        failure(settings, e)
        return None
    asked = line[0].strip(" -*\"'") if line else ""
    return asked if 3 <= len(asked) <= settings.max_question_chars and len(asked.split()) <= 40 else None
