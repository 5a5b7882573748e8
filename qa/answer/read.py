"""The learned reader: the question against a few passages in one batch, the best answer span over all of
them, or none when the no-answer score wins.

The model is the e5-small encoder with a span head (start and end logits; the first token's pair is the
no-answer score, as in SQuAD 2.0 readers), fine-tuned by `training.train` and run here with onnxruntime in int8
(no torch). Token offsets map the span back to exact character offsets in the passage.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.answer import rules
from qa.config import Settings
from qa.models.convert import ensure_converted, ensure_reader_onnx, session
from qa.models.reader_files import read_meta, weight_files
from qa.text.normalise import canonical, fold, fold_aligned
from qa.text.question import Question
from qa.types import Answer, Hit, Lexicon

_EDGE = " \t\n,.;:"  # trimmed off an answer's ends


@dataclass(frozen=True)
class Span:
    """The reader's best answer in one passage: character offsets into it, and its score over no-answer."""

    passage: int
    start: int
    end: int
    margin: float  # best span score minus the no-answer score (logits)


def encode_pairs(tokenizer, question: str | list[str], contexts: list[str], max_len: int):
    """Token ids, attention mask and, per token, its (start, end) offsets in the context (-1 outside it), of
    one question against each context, or (training) of a list of questions, one for each context."""
    questions = [question] * len(contexts) if isinstance(question, str) else question
    encs = tokenizer.encode_batch([(canonical(q), _same_length(c)) for q, c in zip(questions, contexts)])
    width = max(len(e.ids) for e in encs)
    ids = np.full((len(encs), width), tokenizer.token_to_id("<pad>") or 1, dtype=np.int64)
    mask = np.zeros((len(encs), width), dtype=np.int64)
    offsets = np.full((len(encs), width, 2), -1, dtype=np.int64)
    for row, e in enumerate(encs):
        n = len(e.ids)
        ids[row, :n], mask[row, :n] = e.ids, 1
        for t, (seq, off) in enumerate(zip(e.sequence_ids, e.offsets)):
            if seq == 1 and off[1] > off[0]:
                offsets[row, t] = off
    return ids, mask, offsets


def _same_length(text: str) -> str:
    """The canonical form (one tone placement, as the embedder reads) where it keeps every offset."""
    canon = canonical(text)
    return canon if len(canon) == len(text) else text


def tokenizer_for(folder: Path, max_len: int):
    """The base model's tokenizer (its tokenizer.json), cutting only the passage at `max_len` tokens."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    tok.enable_truncation(max_len, strategy="only_second")
    return tok


def best_spans(start: np.ndarray, end: np.ndarray, offsets: np.ndarray, max_tokens: int, top: int) -> list[Span | None]:
    """Per passage, the highest start + end score over spans inside the passage (end after start, at most
    `max_tokens` long, among the `top` best starts and ends), against the no-answer score at the first token."""
    out: list[Span | None] = []
    for row in range(start.shape[0]):
        inside = offsets[row, :, 0] >= 0
        if not inside.any():
            out.append(None)
            continue
        s = np.where(inside, start[row], -np.inf)
        e = np.where(inside, end[row], -np.inf)
        top_s = np.argsort(-s)[:top]
        top_e = np.argsort(-e)[:top]
        best, arg = -np.inf, None
        for i in top_s:
            for j in top_e:
                if i <= j < i + max_tokens and s[i] + e[j] > best:
                    best, arg = s[i] + e[j], (i, j)
        if arg is None:
            out.append(None)
            continue
        null = start[row, 0] + end[row, 0]
        a, b = int(offsets[row, arg[0], 0]), int(offsets[row, arg[1], 1])
        out.append(Span(row, a, b, float(best - null)))
    return out


class SpanReader:
    """The int8 ONNX reader with its tokenizer; `read` gives each passage's best span."""

    def __init__(self, onnx_file: Path, base: Path, meta: dict, threads: int, max_tokens: int, top: int):
        self.meta, self.max_tokens, self.top = meta, max_tokens, top
        self.max_len = int(meta["max_len"])
        self.threshold = float(meta["threshold"])
        self.tokenizer = tokenizer_for(base, self.max_len)
        self.session = session(onnx_file, threads)

    def logits(self, question: str, contexts: list[str]):
        ids, mask, offsets = encode_pairs(self.tokenizer, question, contexts, self.max_len)
        start, end = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
        return start, end, offsets

    def read(self, question: str, contexts: list[str]) -> list[Span | None]:
        if not contexts:
            return []
        return best_spans(*self.logits(question, contexts), self.max_tokens, self.top)

    def confidence(self, margin: float) -> float:
        """The margin over no-answer as a probability-like score; 0.5 at the calibrated threshold."""
        return float(1 / (1 + np.exp(-(margin - self.threshold))))


_loading = threading.Lock()


def load_reader(settings: Settings, weights: Path | None = None) -> SpanReader:
    """The reader, loaded once per process for the weights as they are on disk (rewritten weights, as by
    training, are loaded anew); its ONNX file is made on first use (see convert.ensure_reader_onnx)."""
    weights = Path(weights or settings.reader_weights)
    stamp = tuple(f.stat().st_mtime_ns for f in weight_files(weights))
    with _loading:
        return _load(str(weights), stamp, str(settings.cache_dir), settings.threads, settings.reader_max_answer_tokens,
                     settings.reader_top_tokens)


@lru_cache(maxsize=2)
def _load(weights: str, stamp: tuple, cache_dir: str, threads: int, max_tokens: int, top: int) -> SpanReader:
    meta = read_meta(Path(weights))
    base = ensure_converted(Path(cache_dir))
    return SpanReader(ensure_reader_onnx(base, Path(weights), meta), base, meta, threads, max_tokens, top)


def windows(q: Question, candidates: list[rules.Candidate], settings: Settings) -> list[tuple[Hit, int, int]]:
    """The passages worth reading: around each sentence of the top hits, its neighbours up to
    `reader_context_chars`; the best `reader_passages` by the question words they hold (by idf) and the
    hit's rank. With `reader_checks`, a window must name every entity the question names (its title and
    previous sentence count), as the rules require: a question about Hưng Yên is not answered from Vĩnh Phúc.
    A window that is more than half a chosen one is skipped: the same text read twice tells nothing new."""
    total = sum(q.weights.values()) or 1.0
    scored = []
    for rank, (hit, text, folded_doc, spans) in enumerate(candidates):
        title = fold(hit.title)
        for j, (a, b) in enumerate(spans):
            lo = hi = j
            grew = True
            while grew:  # neighbours on both sides while the window stays short enough
                grew = False
                if lo > 0 and spans[hi][1] - spans[lo - 1][0] <= settings.reader_context_chars:
                    lo, grew = lo - 1, True
                if hi + 1 < len(spans) and spans[hi + 1][1] - spans[lo][0] <= settings.reader_context_chars:
                    hi, grew = hi + 1, True
            a, b = spans[lo][0], spans[hi][1]
            if b - a > settings.reader_context_chars:  # one long sentence: its own text, cut
                a, b = spans[j][0], min(spans[j][1], spans[j][0] + settings.reader_context_chars)
            window = folded_doc[a:b]
            if settings.reader_checks and not all(rules.names(f"{title} {window}", e) for e in q.entities):
                continue
            have = set(re.findall(r"\w+", window))
            score = sum(v for w, v in q.weights.items() if w in have) / total + 0.1 / (rank + 1)
            scored.append((score, -rank, hit, a, b))
    scored.sort(key=lambda x: (-x[0], -x[1]))
    chosen: list[tuple[Hit, int, int]] = []
    for _, _, hit, a, b in scored:  # windows that mostly repeat a chosen one are left for new text
        if not any(h.doc_id == hit.doc_id and min(b, y) - max(a, x) > (b - a) / 2 for h, x, y in chosen):
            chosen.append((hit, a, b))
            if len(chosen) == settings.reader_passages:
                break
    return chosen


def answer(reader: SpanReader, q: Question, candidates: list[rules.Candidate], lexicon: Lexicon,
           settings: Settings) -> Answer:
    """The reader's best span over the chosen windows, or not found when no span beats the no-answer score
    by the calibrated threshold (or, with `reader_checks`, none is of the asked type)."""
    chosen = windows(q, candidates, settings)
    texts = {c[0].doc_id: c[1] for c in candidates}
    spans = reader.read(q.text, [texts[h.doc_id][a:b] for h, a, b in chosen])
    ranked = sorted((s for s in spans if s is not None), key=lambda s: -s.margin)
    for s in ranked:
        if s.margin <= reader.threshold:
            break
        hit, a, _ = chosen[s.passage]
        text = texts[hit.doc_id]
        start, end = a + s.start, a + s.end
        while start < end and text[start] in _EDGE:  # token offsets include the space before a word
            start += 1
        while end > start and text[end - 1] in _EDGE:
            end -= 1
        if end <= start:
            continue
        if settings.reader_checks and not _typed(q, text, start, end, lexicon.places):
            continue
        sentence = next(((x, y) for c in candidates if c[0] is hit for x, y in c[3] if x <= start < y), (start, end))
        return Answer(q.text, text[start:end], True, text[sentence[0]:sentence[1]], [hit], q.kind,
                      sentence, (start, end), round(reader.confidence(s.margin), 3))
    below = [s.margin for s in ranked if s.margin <= reader.threshold]  # the best span that did not make it
    return Answer(q.text, "", False, "", [], q.kind, confidence=round(reader.confidence(below[0]), 3) if below else 0.0)


def _typed(q: Question, text: str, start: int, end: int, places: frozenset[str]) -> bool:
    """A typed question's answer overlaps a candidate of its type in the span's neighbourhood (a "bao nhiêu
    tiền" answer holds an amount); untyped questions take any span."""
    if q.kind in ("other", "title"):
        return True
    a, b = max(0, start - 40), min(len(text), end + 40)
    found = rules.typed_spans(q.kind, text[a:b], fold_aligned(text[a:b]), places, q)
    return any(x < end - a and y > start - a for x, y in found)
