"""The learned reader: the question against a few passages in one batch, the best answer span over all of
them, or none when the no-answer score wins.

The model is the e5-small encoder with a span head (start and end logits; the first token's pair is the
no-answer score, as in SQuAD 2.0 readers), fine-tuned by `qa.train` and run here with onnxruntime in int8
(no torch). Token offsets map the span back to exact character offsets in the passage.
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .config import ROOT, Settings
from .normalise import canonical

WEIGHTS = ROOT / "qa" / "models" / "reader-e5-small.safetensors"  # what training changed, in git
MAX_ANSWER_TOKENS = 24
TOP_TOKENS = 16  # start and end candidates considered per passage


@dataclass(frozen=True)
class Span:
    """The reader's best answer in one passage: character offsets into it, and its score over no-answer."""

    passage: int
    start: int
    end: int
    margin: float  # best span score minus the no-answer score (logits)


def encode_pairs(tokenizer, question: str, contexts: list[str], max_len: int):
    """Token ids, attention mask and, per token, its (start, end) offsets in the context (-1 outside it)."""
    q = canonical(question)
    encs = tokenizer.encode_batch([(q, canonical(c)) for c in contexts])
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


def tokenizer_for(folder: Path, max_len: int):
    """The base model's tokenizer (its tokenizer.json), cutting only the passage at `max_len` tokens."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    tok.enable_truncation(max_len, strategy="only_second")
    return tok


def best_spans(start: np.ndarray, end: np.ndarray, offsets: np.ndarray) -> list[Span | None]:
    """Per passage, the highest start + end score over spans inside the passage (end after start, at most
    MAX_ANSWER_TOKENS long), against the no-answer score at the first token."""
    out: list[Span | None] = []
    for row in range(start.shape[0]):
        inside = offsets[row, :, 0] >= 0
        if not inside.any():
            out.append(None)
            continue
        s = np.where(inside, start[row], -np.inf)
        e = np.where(inside, end[row], -np.inf)
        top_s = np.argsort(-s)[:TOP_TOKENS]
        top_e = np.argsort(-e)[:TOP_TOKENS]
        best, arg = -np.inf, None
        for i in top_s:
            for j in top_e:
                if i <= j < i + MAX_ANSWER_TOKENS and s[i] + e[j] > best:
                    best, arg = s[i] + e[j], (i, j)
        if arg is None:
            out.append(None)
            continue
        null = start[row, 0] + end[row, 0]
        out.append(Span(row, int(offsets[row, arg[0], 0]), int(offsets[row, arg[1], 1]), float(best - null)))
    return out


class Reader:
    """The int8 ONNX reader with its tokenizer; `read` gives each passage's best span."""

    def __init__(self, onnx_file: Path, base: Path, meta: dict, threads: int = 0):
        import onnxruntime as ort

        self.meta = meta
        self.max_len = int(meta["max_len"])
        self.threshold = float(meta["threshold"])
        self.tokenizer = tokenizer_for(base, self.max_len)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])

    def logits(self, question: str, contexts: list[str]):
        ids, mask, offsets = encode_pairs(self.tokenizer, question, contexts, self.max_len)
        start, end = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
        return start, end, offsets

    def read(self, question: str, contexts: list[str]) -> list[Span | None]:
        if not contexts:
            return []
        return best_spans(*self.logits(question, contexts))

    def confidence(self, margin: float) -> float:
        """The margin over no-answer as a probability-like score; 0.5 at the calibrated threshold."""
        return float(1 / (1 + np.exp(-(margin - self.threshold))))


def read_meta(weights: Path = WEIGHTS) -> dict:
    """The reader's settings and figures written beside its weights by training."""
    path = Path(weights).with_suffix(".json")
    if not path.is_file():
        raise ValueError(f"no trained reader at {weights}: run `make train-reader`, or set QA_READER=rules")
    return json.loads(path.read_text(encoding="utf-8"))


_loading = threading.Lock()


def load_reader(settings: Settings, weights: Path | None = None) -> Reader:
    """The reader, loaded once per process; its ONNX file is made on first use (see convert.ensure_reader_onnx)."""
    with _loading:
        return _load(str(Path(weights or settings.reader_weights or WEIGHTS)), str(settings.cache_dir), settings.threads)


@lru_cache(maxsize=2)
def _load(weights: str, cache_dir: str, threads: int) -> Reader:
    from .convert import ensure_converted, ensure_reader_onnx

    meta = read_meta(Path(weights))
    base = ensure_converted(Path(cache_dir))
    return Reader(ensure_reader_onnx(base, Path(weights), meta), base, meta, threads)
