"""Reader training examples from SQuAD v1.1 train (human-written English questions, CC BY-SA 4.0).

English questions teach reading; the multilingual encoder carries it to Vietnamese (cross-lingual
transfer: multilingual MiniLM fine-tuned on English SQuAD reaches MLQA-vi F1 63). Each question becomes
a window of whole sentences around its answer, at most `reader_context_chars` long as at query time, and,
for about half of them, an unanswerable example as SQuAD 2.0 made them: the question against a window of
another paragraph of its article, or against a window of its own paragraph that lacks the answer (what
the reader sees beside the right window when it reads several).

Answers whose text occurs more than once in their paragraph are left out: the rebuilt file's offsets may
point at the wrong repeat (../shared/data/README.md), and the data is not what limits training here.
Articles are split into train and dev by title, so held-out questions never share a paragraph with
trained ones. Examples are dicts in `training.questions`' layout (question, context, answer, answer_start, kind,
how, doc_id: the question's id) and its article's title.
"""
from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path

from training.questions import context_around

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z])")
_ABBREVIATION = re.compile(r"(?:\b\w|\b(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Mt|No|Co|Inc|Ltd|Gen|Col|Lt|Rev|vs|ca|approx|etc))\.$")
_WH = ("how many", "how much", "what", "which", "who", "whom", "whose", "when", "where", "why", "how")


def read(path: Path) -> list[dict]:
    """The articles of a SQuAD-format JSON file (gzipped or not); a clear ValueError if it is not one."""
    path = Path(path)
    try:
        with (gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")) as f:
            data = json.load(f)["data"]
        for article in data:
            for p in article["paragraphs"]:
                p["context"], p["qas"]  # noqa: B018 - the fields we need must be there
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a SQuAD-format file ({type(e).__name__}: {e})") from None
    return data


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each English sentence: a cut after . ! ? before a capital, not after an initial
    or a common abbreviation (U.S., Mr., St.)."""
    out, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        if _ABBREVIATION.search(text, max(0, m.start() - 8), m.start()):
            continue
        out.append((start, m.start()))
        start = m.end()
    out.append((start, len(text)))
    return [(a, b) for a, b in out if b > a]


def kind(question: str) -> str:
    """The question's wh-word (or "other"): what the examples are counted by."""
    q = question.lower()
    found = [(m.start(), w) for w in _WH for m in [re.search(rf"\b{w}\b", q)] if m]
    return min(found, key=lambda f: (f[0], -len(f[1])))[1] if found else "other"


def examples(articles: list[dict], seed: int = 0, negatives: float = 0.5) -> list[dict]:
    """One answerable example per usable question, and an unanswerable one for a `negatives` share."""
    rng = random.Random(seed)
    out = []
    for article in articles:
        paragraphs = [(p["context"], sentence_spans(p["context"])) for p in article["paragraphs"]]
        for pi, p in enumerate(article["paragraphs"]):
            text, spans = paragraphs[pi]
            for qa in p["qas"]:
                ans = qa["answers"][0]
                a, answer = ans["answer_start"], ans["text"]
                if not answer.strip() or text.count(answer) != 1 or text[a:a + len(answer)] != answer:
                    continue
                j = next((i for i, (x, y) in enumerate(spans) if x <= a < y), None)
                if j is None or spans[j][1] < a + len(answer):  # the answer runs across a sentence cut
                    continue
                lo, hi = context_around(text, spans, j, rng)
                if not (lo <= a and a + len(answer) <= hi):
                    continue
                base = {"question": qa["question"].strip(), "kind": kind(qa["question"]), "doc_id": qa["id"],
                        "article": article["title"]}
                out.append({**base, "context": text[lo:hi], "answer": answer, "answer_start": a - lo, "how": "squad"})
                if rng.random() < negatives:
                    neg = _unanswerable(paragraphs, pi, j, answer, rng)
                    if neg:
                        out.append({**base, "context": neg[0], "answer": "", "answer_start": -1, "how": neg[1]})
    return out


def _unanswerable(paragraphs, pi: int, j: int, answer: str, rng: random.Random) -> tuple[str, str] | None:
    """A window without the answer: from another paragraph of the article, or its own paragraph's other
    sentences (either, at random, where there is one)."""
    choices = []
    text, spans = paragraphs[pi]
    others = [i for i in range(len(spans)) if abs(i - j) > 1]
    if others:
        choices.append(("squad-same-paragraph", text, spans, rng.choice(others)))
    if len(paragraphs) > 1:
        pk = rng.choice([k for k in range(len(paragraphs)) if k != pi])
        choices.append(("squad-other-paragraph", *paragraphs[pk], rng.randrange(len(paragraphs[pk][1]))))
    rng.shuffle(choices)
    for how, t, s, k in choices:
        lo, hi = context_around(t, s, k, rng)
        if answer.lower() not in t[lo:hi].lower():
            return t[lo:hi], how
    return None


def split(articles: list[dict], dev_articles: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Train and dev articles: `dev_articles` of them, drawn with the seed, held out whole."""
    order = sorted(articles, key=lambda a: a["title"])
    random.Random(seed).shuffle(order)
    return order[dev_articles:], order[:dev_articles]
