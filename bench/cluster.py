"""Embedding on a Ray cluster beside one process: chunks/s with one and two workers, and per worker.

    .venv/bin/python bench/cluster.py [--jsonl ../shared/data/vn_news.jsonl.gz] [--chunks 1024] [--repeat 3]
                                      [--out out/bench-cluster.json]

The chunks are the first --chunks of the archive's articles after its first 5,000, embedded as an index
run embeds them (checkpoint windows of `checkpoint_chunks`, batches of `batch_size`):
- one process with one onnxruntime thread, and with two (the default on this machine);
- `qa.models.cluster.embedder` on a local cluster of two nodes with one CPU each (`harness.raycluster.local`), with one
  worker and with two (one model each, on its own node).
Each is the median of --repeat runs over the same chunks; starting the workers (loading their models) is
timed apart. On this 2-core machine two workers and two threads share the same cores: read chunks/s per
worker as what one more machine adds. Not a test; tests/test_bench.py runs it on a few chunks.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import raycluster  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.intake.corpus import read_jsonl  # noqa: E402
from qa.models import cluster, embed  # noqa: E402
from qa.text.split import ChunkTable, indexed_text  # noqa: E402

NEWS = Settings.from_env_only("data_dir").archive()
HELD_OUT = 5000  # the archive's evaluation articles


def texts_of(jsonl: Path, n: int, settings: Settings) -> list[str]:
    docs = read_jsonl(jsonl, HELD_OUT + max(50, n // 4))[HELD_OUT:]
    texts = [indexed_text(c) for c in ChunkTable.split(docs, settings)]
    if len(texts) < n:
        sys.exit(f"only {len(texts)} chunks in the articles read: ask for fewer")
    return texts[:n]


def timed(encode, texts: list[str], window: int, repeat: int) -> float:
    """Median chunks/s of embedding `texts` window by window with `encode`."""
    rates = []
    for _ in range(repeat):
        t = time.perf_counter()
        for i in range(0, len(texts), window):
            encode(texts[i:i + window])
        rates.append(len(texts) / (time.perf_counter() - t))
    return statistics.median(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jsonl", type=Path, default=NEWS)
    ap.add_argument("--chunks", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench-cluster.json")
    args = ap.parse_args()
    if args.chunks < 1 or args.repeat < 1:
        sys.exit("--chunks and --repeat must be at least 1")
    if not args.jsonl.exists():
        sys.exit(f"{args.jsonl} does not exist")
    s = Settings.from_env()
    texts, window = texts_of(args.jsonl, args.chunks, s), s.checkpoint_chunks
    rows = {}
    for threads in (1, 2):
        model = embed.load_model(dataclasses.replace(s, threads=threads))
        rows[f"one process, {threads} thread{'s' * (threads > 1)}"] = {
            "workers": 1, "chunks/s": timed(lambda t: embed.encode(model, t, "passage", s.batch_size), texts, window, args.repeat)}
    with raycluster.local(nodes=2, cpus=1) as address:
        for workers in (1, 2):
            t = time.perf_counter()
            with cluster.embedder(dataclasses.replace(s, ray_address=address, ray_workers=workers)) as run:
                start = time.perf_counter() - t
                rows[f"Ray, {workers} worker{'s' * (workers > 1)} on {run.nodes} node{'s' * (run.nodes > 1)}"] = {
                    "workers": workers, "chunks/s": timed(run, texts, window, args.repeat), "start_s": round(start, 1)}
    base = rows["one process, 1 thread"]["chunks/s"]
    print(f"{len(texts)} chunks, windows of {window}, batches of {s.batch_size}, median of {args.repeat}\n")
    print("| how | chunks/s | per worker | × one process, 1 thread | workers' start |\n|---|---|---|---|---|")
    for name, r in rows.items():
        r["per worker"] = r["chunks/s"] / r["workers"]
        print(f"| {name} | {r['chunks/s']:.1f} | {r['per worker']:.1f} | {r['chunks/s'] / base:.2f} | "
              f"{str(r['start_s']) + ' s' if 'start_s' in r else '-'} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"chunks": len(texts), "window": window, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
