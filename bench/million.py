"""Query latency at 1,000,000 chunks: the hybrid query path (query embedding, BM25, dense search, fusion)
over an index made by repeating a real one.

    .venv/bin/python bench/million.py --index out/news5000 [--chunks 1000000] [--queries 100] [--hnsw]

BM25 is real: the index's own postings, its chunks repeated until there are --chunks of them (the same
text many times over; idf barely moves when every document is repeated alike). The vectors are synthetic
(random unit vectors; embedding a million real chunks takes days on this machine), searched exactly
(flat) or, with --hnsw, through the HNSW graph the index would use at that size (slow to build here). The
queries are embedded for real. With --filter F (repeatable), the hybrid query again over a random F of the
articles (each repeat counted as an article of its own), as a date or source filter selects them, beside the
unfiltered one in the same run. Not a test; tests/test_bench.py runs it on a small slice.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import latencies, p50_p95  # noqa: E402 (bench/timing.py)

import qa  # noqa: E402
from qa.index import dense, fuse  # noqa: E402
from qa.index.bm25 import BM25, Postings  # noqa: E402
from qa.models import embed  # noqa: E402
from qa.text.normalise import terms  # noqa: E402
from qa.text.question import search_text  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--chunks", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--hnsw", action="store_true", help="search an HNSW graph instead of every vector")
    ap.add_argument("--filter", type=float, action="append", default=[], metavar="F",
                    help="also time the hybrid query over this fraction of the articles (0 < F < 1; repeatable)")
    args = ap.parse_args()
    if args.chunks < 1 or args.queries < 1:
        sys.exit("error: --chunks and --queries must be at least 1")
    if any(not 0 < f < 1 for f in args.filter):
        sys.exit("error: --filter takes a fraction between 0 and 1")
    try:
        idx = qa.load(args.index).optimize()  # one segment: its postings are repeated
    except (ValueError, qa.IndexProblem) as e:
        sys.exit(f"error: {e}")
    if not len(idx.chunks):
        sys.exit(f"error: the index at {args.index} is empty")
    s = idx.settings
    n0 = len(idx.chunks)
    reps = -(-args.chunks // n0)
    t = time.perf_counter()
    last = np.arange(n0) < args.chunks - (reps - 1) * n0  # the last copy, cut at --chunks
    big = BM25([Postings.merge([x.postings for x in idx.segments] * reps, [None] * (reps - 1) + [last])], None, s.bm25_k1, s.bm25_b)
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((args.chunks, idx.manifest["dimension"]), dtype=np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    vectors = dense.build(vecs, 0 if args.hnsw else args.chunks + 1, s.hnsw_m, s.hnsw_ef_construction)
    dense.tune(vectors, s.hnsw_ef_search)
    del vecs
    setup = time.perf_counter() - t
    questions = [d.title for d in idx.docs[-args.queries:]]
    model = idx.model()
    embed.encode(model, questions[:1], "query")

    def hybrid(q: str, allowed: np.ndarray | None = None) -> None:
        lists = [big.top(terms(search_text(q)), s.pool, allowed),
                 dense.top(vectors, embed.encode(model, [q], "query")[0], s.pool, allowed, s.filter_exact_chunks)]
        fuse.rrf(lists, [s.bm25_weight, s.dense_weight], s.rrf_k)[:5]

    parts = {"BM25 only": lambda q: big.top(terms(search_text(q)), s.pool),
             "dense only (embeds the query)": lambda q: dense.top(vectors, embed.encode(model, [q], "query")[0], s.pool),
             "hybrid": hybrid}
    article = idx.chunks.doc.astype(np.int64)  # each chunk's article, then each repeat as articles of its own
    article = (np.tile(article, reps) + len(idx.docs) * np.repeat(np.arange(reps), n0))[:args.chunks]
    for f in args.filter:
        allowed = (rng.random(len(idx.docs) * reps) < f)[article]
        parts[f"hybrid, filtered to {f:g} of the articles ({allowed.sum():,} chunks)"] = (
            lambda q, allowed=allowed: hybrid(q, allowed))
    print(f"{args.chunks:,} chunks ({reps}x the {n0:,} of {args.index}; BM25 real, vectors synthetic, "
          f"{'HNSW' if args.hnsw else 'exact'} dense search); set up in {setup:.0f} s; {len(questions)} queries")
    print("\n| query (warm, ms) | p50 | p95 |\n|---|---|---|")
    base = None
    for name, fn in parts.items():
        p50, p95 = p50_p95(latencies(fn, questions))
        base = p50 if name == "hybrid" else base
        ratio = f" ({p50 / base:.2f}x the unfiltered p50)" if base and name.startswith("hybrid,") else ""
        print(f"| {name}{ratio} | {p50:.1f} | {p95:.1f} |")


if __name__ == "__main__":
    main()
