"""Indexing and serving the news archive: one table, each measure beside its baseline from the same run.

    .venv/bin/python bench/scale.py [--jsonl ../shared/data/vn_news.jsonl.gz] [--limit 300] [--queries 100]
                                    [--index out/bench-scale] [--reuse]

Indexes the first --limit articles at --index (with --reuse, an index already there is measured as it is,
e.g. one built by `python -m qa index --jsonl … --limit 5000`), then measures index time and embedding
speed, size on disk, load time and memory of a fresh process, and warm query latency (the query's
embedding included) for BM25, dense and hybrid, unfiltered and filtered to a tenth and a hundredth of the
articles. Baselines: BM25 scoring by rank-bm25 (the reference
formula) and bm25s on the same tokens; exact (flat) dense search beside an HNSW graph over the same
vectors, with HNSW's recall@10 against exact. Queries are the titles of the articles that follow the
indexed ones (news-like questions the index has not seen). Timings on shared machines are noisy: read the
ratios. Not a test; tests/test_bench.py runs it on a small slice so it keeps working.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import latencies, p50_p95  # noqa: E402 (bench/timing.py)

import qa  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.index import dense  # noqa: E402
from qa.index.index import assemble  # noqa: E402
from qa.index.segment import make  # noqa: E402
from qa.index.vectors import encode_chunks  # noqa: E402
from qa.intake.corpus import read_jsonl  # noqa: E402
from qa.models import embed  # noqa: E402
from qa.text.normalise import terms  # noqa: E402
from qa.text.split import ChunkTable, indexed_text  # noqa: E402

NEWS = Settings.from_env_only("data_dir").archive()
FILTER_SHARES = (10, 100)  # filtered searches: to every 10th article, to every 100th


def build(docs, settings: Settings, path: Path) -> dict:
    """Index `docs` at `path` step by step, timing the embedding apart from the rest."""
    t0 = time.perf_counter()
    chunks = ChunkTable.split(docs, settings)
    model = embed.load_model(settings)
    t1 = time.perf_counter()
    vecs = encode_chunks(settings, chunks, progress=True, n_docs=len(docs))
    t2 = time.perf_counter()
    idx = assemble(settings, [make("s000001", docs, chunks, vecs, settings)], {"corpus_dir": None, "next_segment": 1}, t0)
    idx.save(path)
    tokens = embed.count_tokens(model, [indexed_text(c) for c in chunks])
    return {"index_s": time.perf_counter() - t0, "embed_s": t2 - t1, "tokens": tokens}


def fresh_process(path: Path, questions: list[str]) -> dict:
    """Load time and memory of a new process: after loading, and serving (after asking every question).
    Memory is the resident set, and the part of it that is memory-mapped index files (the kernel can drop
    those pages and read them again)."""
    code = (  # /proc figures, not ru_maxrss: a child's ru_maxrss starts from its parent's at fork
        "import json, re, time, qa\n"
        "mem = lambda k: int(re.search(k + r':\\s+(\\d+)', open('/proc/self/status').read()).group(1)) / 1024\n"
        f"t = time.perf_counter(); idx = qa.load({str(path)!r}); load_s = time.perf_counter() - t\n"
        "loaded = mem('VmRSS')\n"
        f"for q in {questions!r}: idx.ask(q)\n"
        "print(json.dumps({'load_s': load_s, 'rss_loaded_mb': loaded, 'rss_serving_mb': mem('VmRSS'),"
        " 'rss_file_mb': mem('RssFile'), 'peak_mb': mem('VmHWM')}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jsonl", type=Path, default=NEWS)
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--index", type=Path, default=ROOT / "out" / "bench-scale")
    ap.add_argument("--reuse", action="store_true", help="measure the index already at --index")
    ap.add_argument("--slow-queries", type=int, default=100,
                    help="queries for rank-bm25 (seconds each on a large index); the others use all of them")
    ap.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args()
    if args.limit < 1 or args.queries < 1 or args.slow_queries < 1:
        sys.exit("error: --limit, --queries and --slow-queries must be at least 1")
    settings = Settings.from_env(index_dir=args.index)
    try:
        records = read_jsonl(args.jsonl, args.limit + args.queries)
    except ValueError as e:
        sys.exit(f"error: {e}")
    docs, questions = records[:args.limit], [d.title for d in records[args.limit:]] or [records[0].title]

    figures: dict = {"machine": f"{__import__('os').cpu_count()} cores", "documents": len(docs), "queries": len(questions)}
    if args.reuse and (args.index / "manifest.json").exists():
        manifest = json.loads((args.index / "manifest.json").read_text())
        figures.update(index_s=manifest["build_seconds"], embed_s=None, tokens=None)
    else:
        figures.update(build(docs, settings, args.index))
    figures["disk_mb"] = sum(f.stat().st_size for f in args.index.iterdir() if f.is_file()) / 1e6
    figures.update(fresh_process(args.index, questions))

    idx = qa.load(args.index, settings)
    idx.search(questions[0], 5)  # warm: model loaded
    figures["chunks"] = len(idx.chunks)
    lat = {mode: latencies(lambda q, m=mode: idx.search(q, 5, m), questions) for mode in qa.MODES}
    lat["ask"] = latencies(idx.ask, questions)
    ids = [d.id for d in idx.docs]
    for share in FILTER_SHARES:  # filters apply inside retrieval: what do they cost beside no filter?
        only = {"doc_ids": ids[::share]}
        lat[f"hybrid, 1/{share}"] = latencies(lambda q, f=only: idx.search(q, 5, "hybrid", f), questions)

    # BM25 scoring alone, the same tokens: ours (weights at query time, over segments) vs rank-bm25 and bm25s
    from rank_bm25 import BM25Okapi

    tokens = [terms(indexed_text(c)) for c in idx.chunks]
    qtokens = [terms(q) for q in questions]
    bm = {"qa.index.bm25": latencies(idx.bm25.scores, qtokens),
          "rank-bm25": latencies(BM25Okapi(tokens).get_scores, qtokens[:args.slow_queries])}
    try:
        import bm25s

        ref = bm25s.BM25(k1=settings.bm25_k1, b=settings.bm25_b, method="lucene")  # the same scores as ours
        ref.index(tokens, show_progress=False)
        bm["bm25s"] = latencies(ref.get_scores, qtokens)
    except ImportError:
        pass

    # exact vs HNSW over the same vectors and query embeddings
    vecs = np.concatenate([x.chunk_vectors() for x in idx.segments])
    flat = dense.build(vecs, hnsw_min=len(vecs) + 1)
    t = time.perf_counter()
    hnsw = dense.build(vecs, 0, settings.hnsw_m, settings.hnsw_ef_construction)
    figures["hnsw_build_s"] = time.perf_counter() - t
    qv = embed.encode(idx.model(), questions, "query")
    k = min(10, len(vecs))
    exact = [set(dense.top(flat, v, k)) for v in qv]
    by_ef = {}
    for ef in sorted({64, 128, 256, 512, settings.hnsw_ef_search}):
        dense.tune(hnsw, ef)
        by_ef[ef] = float(np.mean([len(set(dense.top(hnsw, v, k)) & e) / len(e) for v, e in zip(qv, exact)]))
    dense.tune(hnsw, settings.hnsw_ef_search)
    figures["hnsw_recall@10"], figures["hnsw_recall@10_by_ef"] = by_ef[settings.hnsw_ef_search], by_ef
    ann = {"flat": latencies(lambda v: dense.top(flat, v, 50), qv), "hnsw": latencies(lambda v: dense.top(hnsw, v, 50), qv)}

    figures["latency_ms"] = {name: dict(zip(("p50", "p95"), p50_p95(v)))
                             for name, v in {**lat, **{f"bm25 scoring, {n}": v for n, v in bm.items()},
                                             **{f"dense search, {n}": v for n, v in ann.items()}}.items()}
    print(table(figures))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1), encoding="utf-8")


def table(f: dict) -> str:
    lat = f["latency_ms"]

    def row(name, key, base=None):
        r = lat[key]
        ratio = f"{lat[base]['p50'] / r['p50']:.1f}× faster than {base.split(', ')[-1]}" if base else ""
        return f"| {name} | {r['p50']:.1f} | {r['p95']:.1f} | {ratio} |"

    tps = f"{f['tokens'] / f['embed_s']:,.0f}" if f.get("embed_s") else "–"
    lines = [
        f"corpus: {f['documents']:,} articles, {f['chunks']:,} chunks ({f['machine']})",
        "", "| measure | value |", "|---|---|",
        f"| index time (s) | {f['index_s']:.1f} |",
        f"| embedding only (s) | {f['embed_s']:.1f} |" if f.get("embed_s") else "| embedding only (s) | – |",
        f"| embedding speed (tokens/s) | {tps} |",
        f"| index size on disk (MB) | {f['disk_mb']:.1f} |",
        f"| load time, fresh process (s) | {f['load_s']:.2f} |",
        f"| memory after load (MB) | {f['rss_loaded_mb']:.0f} |",
        f"| memory serving, after {f['queries']} asks (MB; of which mapped index files) | "
        f"{f['rss_serving_mb']:.0f} ({f['rss_file_mb']:.0f}); peak {f['peak_mb']:.0f} |",
        f"| HNSW build (s), recall@10 vs exact | {f['hnsw_build_s']:.1f}, {f['hnsw_recall@10']:.3f} |",
        "| HNSW recall@10 by efSearch | " + ", ".join(f"{ef}: {r:.3f}" for ef, r in f["hnsw_recall@10_by_ef"].items()) + " |",
        "", "| query (warm, ms) | p50 | p95 | vs baseline |", "|---|---|---|---|",
        row("search, BM25 only", "bm25"), row("search, dense only (embeds the query)", "dense"),
        row("search, hybrid", "hybrid"),
        *(f"| search, hybrid, filtered to 1 article in {n} | {lat[f'hybrid, 1/{n}']['p50']:.1f} | "
          f"{lat[f'hybrid, 1/{n}']['p95']:.1f} | {lat[f'hybrid, 1/{n}']['p50'] / lat['hybrid']['p50']:.2f}× the "
          "unfiltered p50 |" for n in FILTER_SHARES),
        row("ask (hybrid + answer)", "ask"),
        row("BM25 scoring, rank-bm25 (baseline)", "bm25 scoring, rank-bm25"),
        row("BM25 scoring, qa.index.bm25", "bm25 scoring, qa.index.bm25", "bm25 scoring, rank-bm25"),
    ]
    if "bm25 scoring, bm25s" in lat:
        lines.append(row("BM25 scoring, bm25s", "bm25 scoring, bm25s", "bm25 scoring, rank-bm25"))
    lines += [row("dense search, exact/flat (baseline)", "dense search, flat"),
              row("dense search, HNSW", "dense search, hnsw", "dense search, flat")]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
