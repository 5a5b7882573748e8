"""The reader's no-answer threshold, chosen as the reader is used: on held-out training questions (never a
gold set), each read against several windows at once and answered by the best span over them.

At query time the reader reads `reader_passages` windows and answers with the best of their spans, so the
margin it compares with the threshold is a maximum over windows: a threshold chosen one window at a time
answers too often. Each held-out question here makes two cases: its answer's window beside up to
`passages - 1` windows of the same article that lack the answer (to be answered), and those windows alone
(to be abstained on). The threshold maximises the mean over cases of F1 or a right abstention, with the
int8 ONNX reader as it is served. Both languages count: SQuAD's held-out articles and questions generated
from held-out articles.

    python -m training.calibrate [--weights qa/models/reader-squad.safetensors] [--dev out/reader-squad]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from qa.config import Settings


def cases(examples: list[dict], passages: int, seed: int = 0) -> list[dict]:
    """Reading cases (question, contexts, answer "" for none, lang) from held-out examples."""
    rng = random.Random(seed)
    article = lambda ex: (_lang(ex), ex.get("article") or ex["doc_id"])  # noqa: E731
    windows, asked = defaultdict(list), defaultdict(list)
    for ex in examples:
        asked[(_lang(ex), ex["question"])].append(ex)
        if ex["how"] in ("cloze", "paraphrase", "squad", "other-passage", "squad-same-paragraph"):
            windows[article(ex)].append(ex["context"])
    out = []
    for (lang, question), exs in sorted(asked.items()):
        positive = next((ex for ex in exs if ex["answer_start"] >= 0), None)
        if positive is None:
            continue
        own = [ex["context"] for ex in exs if ex["answer_start"] < 0]
        pool = own + rng.sample(windows[article(positive)], len(windows[article(positive)]))
        others = []
        for c in dict.fromkeys(pool):
            if len(others) < passages - 1 and c != positive["context"] and positive["answer"].lower() not in c.lower():
                others.append(c)
        out.append({"question": question, "contexts": [positive["context"], *others], "answer": positive["answer"],
                    "lang": lang})
        if others:
            out.append({"question": question, "contexts": others, "answer": "", "lang": lang})
    rng.shuffle(out)
    return out


def _lang(ex: dict) -> str:
    return "squad" if ex["how"].startswith("squad") else "news"


def predict(reader, rows: list[dict]) -> list[tuple[str, float]]:
    """The best span over each case's windows (the reader's `read`) and its margin over no-answer."""
    out = []
    for row in rows:
        spans = [s for s in reader.read(row["question"], row["contexts"]) if s is not None]
        best = max(spans, key=lambda s: s.margin, default=None)
        out.append(("", -1e9) if best is None else (row["contexts"][best.passage][best.start:best.end], best.margin))
    return out


def threshold(rows: list[dict], preds: list[tuple[str, float]]) -> tuple[float, dict]:
    """The threshold that maximises the mean of F1 (answered) or 1 (rightly abstained) over all cases, and
    what it gives in each language."""
    from eval.metrics import f1

    gold = [row["answer"] for row in rows]
    scores = np.array([f1(text, [g]) if g else 0.0 for (text, _), g in zip(preds, gold)])
    margins = np.array([m for _, m in preds])
    answerable = np.array([bool(g) for g in gold])

    def total(keep: np.ndarray, t: float) -> float:
        said = margins > t
        return float(np.where(answerable, scores * said, ~said)[keep].sum())

    every = np.ones(len(rows), bool)
    candidates = sorted({round(float(m), 2) for m in margins if m > -1e8} | {0.0})
    t = max(candidates, key=lambda t: (total(every, t), -t))
    figures = {}
    for lang in ("all", "news", "squad"):
        keep = every if lang == "all" else np.array([row["lang"] == lang for row in rows])
        if not keep.any():
            continue
        said, a, u = margins > t, keep & answerable, keep & ~answerable
        figures[f"dev {lang}"] = {
            "cases": int(keep.sum()), "score": round(total(keep, t) / keep.sum(), 3),
            "answerable F1": round(float((scores * said)[a].mean()), 3) if a.any() else None,
            "answerable F1, no threshold": round(float(scores[a].mean()), 3) if a.any() else None,
            "abstention recall": round(float((~said)[u].mean()), 3) if u.any() else None,
            "wrongly abstained": round(float((~said)[a].mean()), 3) if a.any() else None}
    return t, figures


def calibrate(weights: Path, dev: list[dict], settings: Settings, limit: int = 1500, seed: int = 0) -> dict:
    """Choose the threshold of the reader at `weights` on `dev` (at most `limit` cases a language, a draw with
    `seed`: `cases` shuffles them) and write it with its figures into the reader's JSON; the figures."""
    from qa.answer.read import load_reader
    from qa.models.reader_files import read_meta, write_meta

    if limit < 1:
        raise ValueError(f"the calibration needs at least 1 case a language, not {limit}")
    rows = cases(dev, settings.reader_passages, seed)
    rows = [r for lang in ("news", "squad") for r in [x for x in rows if x["lang"] == lang][:limit]]
    if not rows:
        raise ValueError("no held-out question with an answer to calibrate on")
    reader = load_reader(settings, weights)
    t, figures = threshold(rows, predict(reader, rows))
    meta = {**read_meta(weights), "threshold": t, "calibration": {"passages": settings.reader_passages,
                                                                   "seed": seed, **figures}}
    write_meta(weights, meta)
    return meta


def read_dev(folder: Path) -> list[dict]:
    """A training run's held-out examples (its dev.jsonl and squad-dev.jsonl), or a ValueError naming the
    file that is not one."""
    dev = []
    for path in (Path(folder) / "dev.jsonl", Path(folder) / "squad-dev.jsonl"):
        if path.is_file():
            try:
                rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
                if not all({"question", "context", "answer", "answer_start", "how", "doc_id"} <= set(r) for r in rows):
                    raise ValueError("an example lacks one of question, context, answer, answer_start, how, doc_id")
            except (ValueError, TypeError, UnicodeDecodeError) as e:
                raise ValueError(f"{path}: not a file of training examples ({e})") from None
            dev += rows
    if not dev:
        raise ValueError(f"{folder}: no dev.jsonl or squad-dev.jsonl (a training run's folder)")
    return dev


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.calibrate", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", type=Path, default=Settings.reader_weights)
    p.add_argument("--dev", type=Path, required=True, help="a training run's folder (its dev.jsonl, squad-dev.jsonl)")
    p.add_argument("--limit", type=int, default=1500, help="cases per language")
    a = p.parse_args(argv)
    try:
        meta = calibrate(a.weights, read_dev(a.dev), Settings.from_env(), a.limit)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"threshold": meta["threshold"], **meta["calibration"]}, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
