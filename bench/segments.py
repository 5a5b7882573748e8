"""A living index: what adding and deleting one article costs, search after many single-article adds beside
the merged index, and `optimize`.

    .venv/bin/python bench/segments.py --index out/newsfull [--adds 1000] [--trials 5] [--queries 100]

Works on a copy of --index (at --work). The last --adds articles of the index are taken out and the rest
optimized into one segment: the base (`python -m qa optimize` in a child process, timed, its peak memory
read from /proc). Then, through `Library.add_records` and `Library.remove` (the page's and the API's path),
one article is added and deleted --trials times, and --trials articles of the base are deleted, measuring
wall time (the embedding included) and the bytes written to the index folder; then the held-out articles are added back one at a time, as a newsroom would,
and hybrid search over the resulting segments is timed beside the same index merged into one, query by
query in turn (titles of indexed articles as questions). Timings on shared machines are noisy: read the
medians and the ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import p50_p95  # noqa: E402 (bench/timing.py)

import qa  # noqa: E402
from qa.serve.library import Library  # noqa: E402


def written(folder: Path, before: dict[str, int]) -> int:
    """Bytes of the files in `folder` that are new since `before` (name -> size), the manifest included."""
    now = {p.name: p.stat().st_size for p in folder.iterdir() if p.is_file()}
    return sum(size for name, size in now.items() if name not in before or name == "manifest.json")


def files(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in folder.iterdir() if p.is_file()}


def optimize_child(index: Path) -> dict:
    """`python -m qa optimize` in a new process: wall time and peak memory (VmHWM, read before it exits)."""
    code = ("import re, sys\n"
            "from qa.__main__ import main\n"
            "code = main(['optimize'])\n"
            "print('PEAK', int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) // 1024)\n"
            "sys.exit(code)")
    t = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "QA_INDEX_DIR": str(index)})
    if run.returncode:
        sys.exit(f"error: optimize failed: {run.stderr.strip()[-500:]}")
    return {"wall_s": round(time.perf_counter() - t, 1), "peak_mb": int(re.search(r"PEAK (\d+)", run.stdout).group(1)),
            "said": run.stdout.splitlines()[0]}


def record(d: qa.Document) -> dict:
    """A document as the API takes it: its fields, its metadata beside them."""
    return {k: v for k, v in d.record().items() if k != "meta"} | d.meta


def timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def compare(grown: qa.Index, questions: list[str]) -> dict:
    """Hybrid search over the segments of `grown` beside the same index merged into one (in this process),
    query by query in turn, three rounds."""
    s, merged = timed(grown.optimize)
    lat: dict[str, list[float]] = {"segments": [], "merged": []}
    for q in questions:  # warm both
        grown.search(q, 5, "hybrid")
        merged.search(q, 5, "hybrid")
    for _ in range(3):
        for q in questions:  # in turn, so both see the same machine
            for name, idx in (("segments", grown), ("merged", merged)):
                t = time.perf_counter()
                idx.search(q, 5, "hybrid")
                lat[name].append((time.perf_counter() - t) * 1000)
    ms = {name: dict(zip(("p50", "p95"), p50_p95(v))) for name, v in lat.items()}
    same = sum(grown.search(q, 5, "hybrid") == merged.search(q, 5, "hybrid") for q in questions)
    return {"optimize_in_process_s": round(s, 1), "segments": len(grown.segments), "search_ms": ms,
            "search_p95_ratio": ms["segments"]["p95"] / ms["merged"]["p95"], "same_hits": f"{same}/{len(questions)}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True, help="an index to copy (it is left as it is)")
    ap.add_argument("--work", type=Path, default=ROOT / "out" / "bench-segments")
    ap.add_argument("--adds", type=int, default=1000, help="articles held out, then added back one at a time")
    ap.add_argument("--trials", type=int, default=5, help="single adds and deletes measured on the base")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--out", type=Path, help="also write the figures as JSON here")
    ap.add_argument("--search-only", action="store_true",
                    help="only compare search over the index left at --work by an earlier run with it merged")
    args = ap.parse_args()
    if min(args.adds, args.trials, args.queries) < 1 or args.trials > args.adds:
        sys.exit("error: --adds, --trials and --queries must be at least 1, and --trials at most --adds")
    index = args.work / "index"
    if args.search_only:
        try:
            grown = qa.load(index)
        except qa.IndexProblem as e:
            sys.exit(f"error: {e} (run without --search-only first)")
        figures = compare(grown, [d.title for d in grown.docs[:: max(1, len(grown.docs) // args.queries)]][:args.queries])
        print(json.dumps(figures, indent=1))
        return
    shutil.rmtree(args.work, ignore_errors=True)
    print(f"copying {args.index} to {index}", flush=True)
    shutil.copytree(args.index, index, ignore=shutil.ignore_patterns(".lock", ".partial"))
    settings = qa.Settings.from_env(index_dir=index)
    try:
        whole = qa.load(index, settings)
    except qa.IndexProblem as e:
        sys.exit(f"error: {e}")
    if len(whole.docs) <= args.adds:
        sys.exit(f"error: the index has {len(whole.docs)} articles: --adds must be fewer")
    held = whole.docs[-args.adds:]
    figures: dict = {"machine": f"{os.cpu_count()} cores", "index": str(args.index), "articles": len(whole.docs),
                     "held_out": len(held)}
    base = whole.add([], remove=[d.id for d in held])
    base.manifest["corpus_dir"] = None  # its articles come and go through the Library only, not from a folder
    base.save(index)
    del whole, base
    figures["optimize"] = optimize_child(index)
    print("optimize:", figures["optimize"], flush=True)

    lib = Library(settings)
    base_docs = lib.index.docs
    questions = [d.title for d in base_docs[:: max(1, len(base_docs) // args.queries)]][:args.queries]
    lib.search(questions[0], 5, "hybrid")  # the model loaded, the files mapped
    single = {"add_s": [], "add_bytes": [], "delete_s": [], "delete_bytes": []}
    for d in held[:args.trials]:
        before = files(index)
        s, added = timed(lambda: lib.add_records([record(d)]))
        assert added[0].status == "added", added
        single["add_s"].append(s)
        single["add_bytes"].append(written(index, before))
        before = files(index)
        s, _ = timed(lambda: lib.remove(d.id))
        single["delete_s"].append(s)
        single["delete_bytes"].append(written(index, before))
    single |= {"delete_base_s": [], "delete_base_bytes": []}
    for d in base_docs[:args.trials]:  # an article of the base: its segment's tombstone is written
        before = files(index)
        s, _ = timed(lambda: lib.remove(d.id))
        single["delete_base_s"].append(s)
        single["delete_base_bytes"].append(written(index, before))
    figures["single"] = {k: statistics.median(v) for k, v in single.items()} | {
        f"{k}_max": max(v) for k, v in single.items()}
    print("one article:", figures["single"], flush=True)

    adds = {"s": [], "bytes": [], "segments": []}
    t0 = time.perf_counter()
    for n, d in enumerate(held, 1):
        before = files(index)
        s, _ = timed(lambda: lib.add_records([record(d)]))
        adds["s"].append(s)
        adds["bytes"].append(written(index, before))
        adds["segments"].append(len(lib.index.segments))
        if n % 100 == 0:
            print(f"{n} adds, {len(lib.index.segments)} segments, {time.perf_counter() - t0:.0f} s", flush=True)
    figures["adds"] = {"count": len(held), "wall_s": round(time.perf_counter() - t0, 1),
                       "s_p50": statistics.median(adds["s"]), "s_p95": p50_p95(adds["s"])[1], "s_max": max(adds["s"]),
                       "bytes_p50": statistics.median(adds["bytes"]), "bytes_mean": statistics.mean(adds["bytes"]),
                       "bytes_max": max(adds["bytes"]), "segments_max": max(adds["segments"]),
                       "segments_end": adds["segments"][-1]}
    print("adds:", figures["adds"], flush=True)

    figures.update(compare(lib.index, questions))
    print(json.dumps(figures, indent=1))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
