"""Score the library on a gold set: retrieval (by article and by answer-bearing chunk), answers, abstention.

    python -m eval [--gold eval/gold_seeds.jsonl] [--corpus seeds] [--mode hybrid bm25 dense] [--k 10] [--out out/eval]

Uses the public API only (qa.build_index, Index.search, Index.ask). Writes report.json and report.md.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import qa

from .metrics import contains, exact, f1, recall_at, reciprocal_rank

ROOT = Path(__file__).resolve().parent.parent


def read_gold(path: Path) -> list[dict]:
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                items.append(json.loads(line))
            except ValueError:
                raise ValueError(f"{path}:{n}: not a JSON object") from None
    return items


def evaluate(idx: qa.Index, gold: list[dict], mode: str, k: int) -> dict:
    """Per-question results and the aggregate metrics for one retrieval mode."""
    rows = []
    for i, g in enumerate(gold, 1):
        hits = idx.search(g["question"], k, mode)  # the retrieval ranking; ask() reorders its citations
        t = time.perf_counter()
        ans = idx.ask(g["question"], k, mode)
        ms = (time.perf_counter() - t) * 1000
        docs = [h.doc_id for h in hits]
        holds_answer = [contains(h.text, g["answers"]) for h in hits]
        rows.append({
            "id": g["id"], "kind": g["kind"], "answerable": g["answerable"], "question": g["question"],
            "answered": ans.text if ans.found else None, "cited": ans.citations[0].doc_id if ans.found else None,
            "rr_doc": reciprocal_rank(docs, set(g["doc_ids"])),
            "r1": recall_at(docs, set(g["doc_ids"]), 1), "r5": recall_at(docs, set(g["doc_ids"]), 5),
            "r10": recall_at(docs, set(g["doc_ids"]), 10),
            "rr_chunk": reciprocal_rank(holds_answer, {True}), "r5_chunk": recall_at(holds_answer, {True}, 5),
            "correct": ans.found and contains(ans.text, g["answers"]), "em": ans.found and exact(ans.text, g["answers"]),
            "f1": f1(ans.text, g["answers"]) if ans.found else 0.0,
            "citation_ok": ans.found and ans.citations[0].doc_id in g["doc_ids"], "ms": ms,
        })
        if sys.stderr.isatty() or i % 10 == 0:
            print(f"\r{mode}: {i}/{len(gold)}", end="", file=sys.stderr)
    print(file=sys.stderr)
    return {"metrics": aggregate(rows), "by_kind": {kind: aggregate([r for r in rows if r["kind"] == kind])
                                                    for kind in sorted({r["kind"] for r in rows})},
            "misses": [r for r in rows if r["answerable"] != (r["answered"] is not None) or
                       (r["answerable"] and not r["correct"])], "rows": rows}


def aggregate(rows: list[dict]) -> dict:
    ans = [r for r in rows if r["answerable"]]
    unans = [r for r in rows if not r["answerable"]]
    abstained = [r for r in rows if r["answered"] is None]

    def mean(key: str, rs: list[dict]) -> float | None:
        return round(statistics.fmean(r[key] for r in rs), 3) if rs else None

    ms = sorted(r["ms"] for r in rows)
    return {
        "questions": len(rows), "answerable": len(ans),
        "R@1": mean("r1", ans), "R@5": mean("r5", ans), "R@10": mean("r10", ans), "MRR": mean("rr_doc", ans),
        "chunk R@5": mean("r5_chunk", ans), "chunk MRR": mean("rr_chunk", ans),
        "answer accuracy": mean("correct", ans), "exact match": mean("em", ans), "F1": mean("f1", ans),
        "citation accuracy": mean("citation_ok", ans),
        "abstention precision": round(sum(not r["answerable"] for r in abstained) / len(abstained), 3) if abstained else None,
        "abstention recall": round(sum(r["answered"] is None for r in unans) / len(unans), 3) if unans else None,
        "wrongly abstained": round(sum(r["answered"] is None for r in ans) / len(ans), 3) if ans else None,
        "p50 ms": round(statistics.median(ms), 1) if ms else None,
        "p95 ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 1) if ms else None,
    }


def markdown(report: dict) -> str:
    modes = list(report["modes"])
    keys = list(report["modes"][modes[0]]["metrics"])
    lines = ["| metric | " + " | ".join(modes) + " |", "|---|" + "---|" * len(modes)]
    lines += [f"| {key} | " + " | ".join(str(report["modes"][m]["metrics"][key]) for m in modes) + " |" for key in keys]
    for m in modes:
        lines += ["", f"### Misses ({m})", ""]
        lines += [f"- {r['id']} [{r['kind']}] {r['question']} → {r['answered'] or 'not found'}"
                  for r in report["modes"][m]["misses"]] or ["- none"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval", description=__doc__.splitlines()[0])
    ap.add_argument("--gold", type=Path, default=ROOT / "eval" / "gold_seeds.jsonl")
    ap.add_argument("--corpus", type=Path, default=ROOT / "seeds")
    ap.add_argument("--mode", nargs="+", default=["hybrid"], choices=["hybrid", "bm25", "dense"])
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "eval")
    args = ap.parse_args(argv)
    try:
        gold = read_gold(args.gold)
        idx = qa.build_index(args.corpus)
        report = {"gold": str(args.gold), "corpus": str(args.corpus), "k": args.k,
                  "modes": {m: evaluate(idx, gold, m, args.k) for m in args.mode}}
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    (args.out / "report.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    return 0
