"""Speed of the query path over the seeds, warm, plus the first answer from a fresh process.

    .venv/bin/python bench/speed.py [--repeat 20]

Prints medians and p95 over all questions x repeats; rank-bm25 scoring of the same chunks is measured in
the same run as the baseline for our sparse BM25 (timings on shared machines are noisy: compare ratios).
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import latencies, p50_p95  # noqa: E402 (bench/timing.py)

import qa  # noqa: E402
from qa.models.reader_files import read_meta  # noqa: E402
from qa.text.normalise import terms  # noqa: E402

QUESTIONS = [
    "Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?", "Hà Nội tặng Hưng Yên bao nhiêu tiền?",
    "ha noi tang vinh phuc bao nhieu tien", "Bí thư Tỉnh ủy Vĩnh Phúc là ai?", "Bí thư Thành ủy Hà Nội là ai?",
    "Công an hai tỉnh duy trì mấy cụm liên kết?", "Năm nào Hà Nội ký biên bản ghi nhớ hợp tác du lịch với 5 tỉnh?",
    "Hà Nội ký kết thỏa thuận hợp tác với thành phố nào?", "Quy mô nền kinh tế Vĩnh Phúc đạt bao nhiêu?",
    "Hà Nội hỗ trợ Hòa Bình những lĩnh vực gì?",
]


def timed(fn, runs: int) -> list[float]:
    return latencies(fn, QUESTIONS, runs)


def row(name: str, ms: list[float], base: list[float] | None = None) -> str:
    p50, p95 = p50_p95(ms)
    ratio = f"{statistics.median(base) / p50:.1f}x faster" if base else ""
    return f"| {name} | {p50:.1f} | {p95:.1f} | {ratio} |"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--index", type=Path, help="an index folder (default: the seeds' index)")
    ap.add_argument("--weights", type=Path, nargs="+", help="learned readers to time (default: the configured one)")
    args = ap.parse_args()
    if args.repeat < 1:
        sys.exit("error: --repeat must be at least 1")

    t = time.perf_counter()
    try:
        idx = qa.load(args.index) if args.index else qa.default_index()
        for w in args.weights or []:
            read_meta(w)
    except (ValueError, qa.IndexProblem) as e:
        sys.exit(f"error: {e}")
    ready = time.perf_counter() - t
    readers = {}
    for w in args.weights or [idx.settings.reader_weights]:
        r = dataclasses.replace(idx, settings=dataclasses.replace(idx.settings, reader="learned", reader_weights=w))
        r.ask(QUESTIONS[0])  # warm: models loaded (exported once), caches filled
        readers[w.stem] = r
    rules = dataclasses.replace(idx, settings=dataclasses.replace(idx.settings, reader="rules"))
    rules.ask(QUESTIONS[0])

    from rank_bm25 import BM25Okapi

    docs = [terms(c.text) for c in idx.chunks]
    ref = BM25Okapi(docs)
    ours = idx.bm25
    rows = [
        "| measure (warm, ms) | p50 | p95 | vs baseline |", "|---|---|---|---|",
        row("`search` hybrid, k=5 (embeds the query)", timed(lambda q: idx.search(q, 5), args.repeat)),
        row("`ask` hybrid, rules", timed(rules.ask, args.repeat)),
        *[row(f"`ask` hybrid, learned reader {name}", timed(r.ask, args.repeat)) for name, r in readers.items()],
        row("`search` BM25 only", timed(lambda q: idx.search(q, 5, "bm25"), args.repeat)),
        row("`search` dense only", timed(lambda q: idx.search(q, 5, "dense"), args.repeat)),
    ]
    base = timed(lambda q: ref.get_scores(terms(q)), args.repeat)
    rows.append(row("BM25 scoring, rank-bm25 (baseline)", base))
    rows.append(row("BM25 scoring, qa.index.bm25 (sparse)", timed(lambda q: ours.scores(terms(q)), args.repeat), base))

    cold = []
    opened = f"qa.load({str(args.index)!r})" if args.index else "qa.default_index()"
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import qa; print({opened}.ask({QUESTIONS[0]!r}).text)"], cwd=ROOT,
                       check=True, capture_output=True)
        cold.append(time.perf_counter() - t)
    print(f"corpus: {len(idx.docs)} documents, {len(idx.chunks)} chunks; index ready in {ready:.2f} s in this process")
    print("\n".join(rows))
    print(f"| first answer from a new process (s, the configured reader: {idx.settings.reader}), median of 3 "
          f"| {statistics.median(cold):.2f} | {max(cold):.2f} | |")


if __name__ == "__main__":
    main()
