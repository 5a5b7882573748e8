"""Search through Milvus Lite beside the local store, in one run: quality, latency, and a large collection.

    .venv/bin/python bench/milvus.py [--sets seeds xquad] [--xquad ../shared/data/xquad.vi.json]
                                     [--archive out/newsfull] [--chunks 150000] [--queries 100]
                                     [--db out/bench-milvus/qa.db] [--out out/bench-milvus.json]

1. On the gold sets --sets names, the seeds' and XQuAD-vi (each an index built here): R@1, answer accuracy and F1 through the
   local store, through Milvus Lite with qa's fusion, and with Milvus's hybrid_search (RRFRanker); search
   and ask p50/p95 over the gold questions.
2. With --archive (an index of the news archive, e.g. `make index-archive`): its first articles up to
   --chunks chunks (the rest marked deleted, so both stores search the same chunks) are pushed into a fresh
   collection: insert time, the memory of this process and the Milvus Lite server after it, and hybrid
   search p50/p95 for questions made of the titles of articles the slice does not hold, beside the local
   store over the same slice.
Timings on shared machines are noisy: read the ratios. Not a test; tests/test_bench.py runs it on the seeds.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import latencies, p50_p95  # noqa: E402 (bench/timing.py)

import qa  # noqa: E402
from eval.run import read_gold, run  # noqa: E402
from eval.xquad import read_xquad  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.index import milvus  # noqa: E402
from qa.index.index import Index  # noqa: E402
from qa.intake.corpus import read_folder  # noqa: E402

XQUAD = Settings.from_env_only("data_dir").xquad()


def rss_mb() -> tuple[float, float]:
    """Resident memory of this process, and of its children (the Milvus Lite server runs as one), from /proc."""
    def rss(p: str) -> float:
        return int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{p}/status").read_text()).group(1)) / 1024

    children, todo = 0.0, [c for t in Path("/proc/self/task").iterdir() for c in (t / "children").read_text().split()]
    while todo:
        p = todo.pop()
        try:
            children += rss(p)
            todo += [c for t in Path(f"/proc/{p}/task").iterdir() for c in (t / "children").read_text().split()]
        except (OSError, AttributeError):
            continue
    return round(rss("self")), round(children)


def stores(settings: Settings, db: Path) -> dict[str, Settings]:
    lite = dataclasses.replace(settings, store=f"milvus:{db}")
    return {"local": settings, "milvus lite, qa fusion": lite,
            "milvus lite, hybrid_search": dataclasses.replace(lite, milvus_fusion="milvus")}


def quality(name: str, idx: qa.Index, gold: list[dict], settings: dict[str, Settings]) -> dict:
    """The gold set through each store: metrics, search and ask latency."""
    out = {}
    questions = [g["question"] for g in gold]
    for store, s in settings.items():
        view = dataclasses.replace(idx, settings=s)
        view.search(questions[0], 10)  # pushes the collection, loads the model
        t = time.perf_counter()
        report = run(view, gold, ["hybrid"], k=10)["modes"]["hybrid"]["metrics"]
        m = {key: report[key] for key in ("R@1", "R@5", "answer accuracy", "F1")}
        m["search p50/p95 ms"] = [round(x, 1) for x in p50_p95(latencies(lambda q: view.search(q, 10), questions))]
        m["ask p50/p95 ms"] = [report["p50 ms"], report["p95 ms"]]
        m["seconds"] = round(time.perf_counter() - t, 1)
        out[store] = m
        print(f"{name:8} {store:28} R@1 {m['R@1']:.3f}  answers {m['answer accuracy']:.3f}  F1 {m['F1']:.3f}  "
              f"search p50/p95 {m['search p50/p95 ms']} ms  ask {m['ask p50/p95 ms']} ms", flush=True)
    return out


def large(archive: Path, n_chunks: int, queries: int, settings: Settings, db: Path) -> dict:
    """Push the first articles of `archive` up to `n_chunks` chunks; insert time, memory, search latency."""
    full = qa.load(archive, settings)
    ends = full.chunks.doc.searchsorted(range(len(full.chunks.docs)), side="right")
    keep = max(1, int((ends <= n_chunks).sum()))  # whole articles, at most n_chunks chunks
    out_ids = {d.id for d in full.chunks.docs[keep:]}
    view = Index(settings, [x.delete(out_ids) for x in full.segments], full.manifest, full.path)
    questions = [d.title for d in full.chunks.docs[keep:keep + queries] if d.title.strip()]
    lite = dataclasses.replace(settings, store=f"milvus:{db}")
    pushed = dataclasses.replace(view, settings=lite)
    milvus.drop(pushed)
    before = rss_mb()
    t = time.perf_counter()
    milvus.push(pushed)
    insert_s = time.perf_counter() - t
    n = int(view.live.sum()) if view.live is not None else len(view.chunks)
    figures = {"chunks": n, "articles": keep, "insert_s": round(insert_s, 1), "rows_per_s": round(n / insert_s),
               "rss_before_mb (qa, milvus lite)": before, "rss_after_insert_mb (qa, milvus lite)": rss_mb(),
               "db_mb": round(sum(f.stat().st_size for f in db.parent.rglob("*") if f.is_file()) / 2**20)}
    for store, idx in (("local", view), ("milvus lite, qa fusion", pushed)):
        idx.search(questions[0], 10)
        figures[f"{store} hybrid search p50/p95 ms"] = [round(x, 1) for x in p50_p95(latencies(lambda q: idx.search(q, 10), questions))]
    figures["rss_serving_mb (qa, milvus lite)"] = rss_mb()
    print(json.dumps(figures, indent=1), flush=True)
    milvus.drop(pushed)
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="*", choices=("seeds", "xquad"), default=["seeds", "xquad"])
    ap.add_argument("--xquad", type=Path, default=XQUAD)
    ap.add_argument("--archive", type=Path, help="an index of the news archive (the large-collection figures)")
    ap.add_argument("--chunks", type=int, default=150_000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--db", type=Path, default=ROOT / "out" / "bench-milvus" / "qa.db")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench-milvus.json")
    args = ap.parse_args()
    if args.chunks < 1 or args.queries < 1:
        sys.exit("--chunks and --queries must be at least 1")
    if "xquad" in args.sets and not args.xquad.exists():
        sys.exit(f"{args.xquad} does not exist (give --xquad FILE, or --sets seeds)")
    if args.archive and not (args.archive / "manifest.json").is_file():
        sys.exit(f"no index at {args.archive} (build it with: make index-archive)")
    shutil.rmtree(args.db.parent, ignore_errors=True)
    settings = Settings.from_env(store="local")
    figures = {}
    if "seeds" in args.sets:
        figures["seeds"] = quality("seeds", qa.build_index(read_folder(ROOT / "seeds"), settings=settings),
                                   read_gold(ROOT / "eval" / "gold_seeds.jsonl"), stores(settings, args.db))
    if "xquad" in args.sets:
        docs, gold = read_xquad(args.xquad)
        figures["xquad"] = quality("xquad", qa.build_index(docs, settings=settings, progress=True), gold,
                                   stores(settings, args.db))
    if args.archive:
        figures["large"] = large(args.archive, args.chunks, args.queries, settings, args.db)
    milvus.close(dataclasses.replace(settings, store=f"milvus:{args.db}"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=1, ensure_ascii=False))
    print(f"figures in {args.out}")


if __name__ == "__main__":
    main()
