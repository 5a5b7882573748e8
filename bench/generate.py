"""Generated answers with the tests' small model: time to the first token and to the whole answer, and the
share of answers that pass the check, over the seeds gold set.

    .venv/bin/python bench/generate.py [--questions 76] [--max-tokens 256] [--passages 5] [--out out/bench-generate.json]

Starts the local llama.cpp server (harness/llmserver.py: Gemma 3 270M Q4_K_M, a base model), asks each gold
question through `Index.ask_stream`, and reports p50/p95 of the time to the first token and to the end
(retrieval and the extractive answer included), how many answers were cut at the token limit, how many
sentences and answers the check verified, and how often the model said "không tìm thấy" where the gold
has an answer. A tiny base model writes poor Vietnamese: a low verified share is what the check is for.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import qa  # noqa: E402
from eval.run import read_gold  # noqa: E402
from harness import llmserver  # noqa: E402
from qa.answer import check  # noqa: E402
from qa.intake.corpus import read_folder  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=76)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--passages", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench-generate.json")
    args = ap.parse_args()
    if min(args.questions, args.max_tokens, args.passages) < 1:
        sys.exit("--questions, --max-tokens and --passages must be at least 1")
    gold = read_gold(ROOT / "eval" / "gold_seeds.jsonl")[:args.questions]
    idx = qa.build_index(read_folder(ROOT / "seeds"))
    rows = []
    with llmserver.local(log=args.out.with_suffix(".server.log")) as url:
        s = dataclasses.replace(idx.settings, llm_url=url, llm_max_tokens=args.max_tokens, llm_passages=args.passages,
                                llm_timeout=300)
        view = dataclasses.replace(idx, settings=s)
        view.ask(gold[0]["question"], generate=False)  # the embedding model loaded
        for g in gold:
            t0, first = time.perf_counter(), None
            for event in view.ask_stream(g["question"]):
                if "token" in event and first is None:
                    first = time.perf_counter() - t0
            ans, total = event["answer"], time.perf_counter() - t0
            rows.append({"id": g["id"], "answerable": g["answerable"], "first_s": first, "total_s": total,
                         "cut": "bị cắt" in ans.notice, "notice": ans.notice, "verified": ans.generated_verified,
                         "sentences": len(ans.generated_sentences),
                         "sentences_verified": sum(x.verified for x in ans.generated_sentences),
                         "said_not_found": bool(ans.generated) and check.says_not_found(ans.generated)})
            print(f"{g['id']} first {first or 0:.2f} s, total {total:.2f} s, verified {ans.generated_verified}, "
                  f"{ans.notice[:60]}", flush=True)
    firsts = [r["first_s"] for r in rows if r["first_s"] is not None]
    totals = [r["total_s"] for r in rows]
    answerable = [r for r in rows if r["answerable"]]
    figures = {
        "questions": len(rows), "max_tokens": args.max_tokens, "passages": args.passages,
        "first token p50/p95 s": [round(statistics.median(firsts), 2), round(float(np.percentile(firsts, 95)), 2)] if firsts else None,
        "whole answer p50/p95 s": [round(statistics.median(totals), 2), round(float(np.percentile(totals, 95)), 2)],
        "cut at the token limit": sum(r["cut"] for r in rows),
        "answers verified": sum(r["verified"] for r in rows),
        "share verified": round(sum(r["verified"] for r in rows) / len(rows), 3),
        "sentences verified / written": [sum(r["sentences_verified"] for r in rows), sum(r["sentences"] for r in rows)],
        "said not found where the gold answers": sum(r["said_not_found"] for r in answerable),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=1, ensure_ascii=False))
    print(json.dumps({k: v for k, v in figures.items() if k != "rows"}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
