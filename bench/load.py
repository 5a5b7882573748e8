"""Load: clients asking through the Gradio API at once, for a while, with an article added in the middle; then
the same clients through the JSON API (POST /api/search and /api/ask), in the same run.

    .venv/bin/python bench/load.py [--index index/default] [--clients 16] [--seconds 60] [--upload-at 20]

Starts `python app.py` on a free loopback port over a copy of --index (the index itself is not touched),
then each client (its own gradio_client.Client, in its own thread) asks the questions of
eval/gold_seeds.jsonl in turn, as fast as it is answered, until --seconds have passed. At --upload-at
seconds one more client adds an article through the "add" API, which embeds it, saves a new index and
swaps it in while the others keep asking. Reported: requests, errors, latency percentiles overall and
while the article was being added, and whether every answer was one the server gave before the upload or
after it (never a broken or mixed one). Not a test; tests/test_bench.py runs it briefly.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from harness.process import answers, free_port, running  # noqa: E402

ARTICLE = ("Hà Nội hỗ trợ Sơn La xây trường học vùng cao\n\nUBND TP. Hà Nội quyết định hỗ trợ tỉnh Sơn La 7 tỷ đồng để "
           "xây dựng trường học cho học sinh vùng cao. Số tiền được chuyển trong tháng 12.\n")
ARTICLE_QUESTION = ("Hà Nội hỗ trợ Sơn La bao nhiêu tiền xây trường học?", "7 tỷ đồng")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, default=ROOT / "index" / "default")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--upload-at", type=float, default=20, help="seconds after the start; negative: no upload")
    ap.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args()
    if args.clients < 1 or args.seconds <= 0:
        sys.exit("error: --clients must be at least 1 and --seconds positive")
    if not (args.index / "manifest.json").is_file():
        sys.exit(f"error: no index at {args.index} (build one with: python -m qa index)")
    questions = [json.loads(line)["question"] for line in (ROOT / "eval" / "gold_seeds.jsonl").open(encoding="utf-8")]
    with tempfile.TemporaryDirectory(prefix="qa-load-") as tmp:
        shutil.copytree(args.index, Path(tmp) / "index", ignore=shutil.ignore_patterns(".lock", ".partial"))
        port = free_port()
        url, log = f"http://127.0.0.1:{port}/", Path(tmp) / "app.log"
        env = {**os.environ, "QA_INDEX_DIR": str(Path(tmp) / "index"), "QA_PORT": str(port)}
        with log.open("w") as out, ExitStack() as stack:
            try:
                stack.enter_context(running([sys.executable, "app.py"], lambda: answers(url), 600, "app.py", out,
                                            cwd=ROOT, env=env))
            except RuntimeError as e:
                sys.exit(f"error: {e}:\n" + log.read_text()[-2000:])
            figures = run(url, questions, args)
            figures["json_api"] = {route: json_api(url, route, questions, args) for route in ("search", "ask")}
    print(table(figures))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1, ensure_ascii=False), encoding="utf-8")


def run(url: str, questions: list[str], args) -> dict:
    from gradio_client import Client

    probe = Client(url, verbose=False)
    ask = lambda c, q: c.predict(q, 5, "hybrid", api_name="/ask")["text"]  # noqa: E731
    before = {q: ask(probe, q) for q in questions}
    clients = [Client(url, verbose=False) for _ in range(args.clients)]
    records: list[tuple[float, float, str, str | None]] = []  # (start, ms, question, answer or None on error)
    errors: list[str] = []
    lock, start = threading.Lock(), time.monotonic()
    stop = start + args.seconds

    def worker(n: int) -> None:
        i = n
        while time.monotonic() < stop:
            q = questions[i % len(questions)]
            i += 1
            t = time.monotonic()
            try:
                text = ask(clients[n], q)
            except Exception as e:  # noqa: BLE001 - every failure is counted and shown
                text = None
                with lock:
                    errors.append(f"{type(e).__name__}: {e}"[:200])
            with lock:
                records.append((t - start, (time.monotonic() - t) * 1000, q, text))

    upload: dict = {}

    def uploader() -> None:
        time.sleep(args.upload_at)
        t = time.monotonic()
        upload["lines"] = Client(url, verbose=False).predict("son-la.txt", ARTICLE, api_name="/add")
        upload["window"] = (t - start, time.monotonic() - start)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.clients)]
    if 0 <= args.upload_at < args.seconds:
        threads.append(threading.Thread(target=uploader))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = {q: ask(probe, q) for q in questions}
    ms = [r[1] for r in records]
    odd = [(q, text) for _, _, q, text in records if text is not None and text not in (before[q], after[q])]
    figures = {"clients": args.clients, "seconds": args.seconds, "requests": len(records), "errors": len(errors),
               "error_samples": errors[:5], "latency_ms": _percentiles(ms), "answers_neither_before_nor_after": len(odd),
               "odd_samples": odd[:5], "cores": os.cpu_count()}
    if "window" in upload:
        a, b = upload["window"]
        during = [r[1] for r in records if a <= r[0] <= b]
        figures.update(upload_s=b - a, upload_lines=upload["lines"], requests_during_upload=len(during),
                       latency_during_upload_ms=_percentiles(during) if during else None,
                       new_article_answer=ask(probe, ARTICLE_QUESTION[0]), new_article_expected=ARTICLE_QUESTION[1])
    return figures


def json_api(url: str, route: str, questions: list[str], args) -> dict:
    """The same clients for the same time through POST /api/<route> (plain HTTP, one connection each)."""
    import http.client

    host, port = url.split("//")[1].rstrip("/").split(":")
    ms: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + args.seconds

    def worker(n: int) -> None:
        conn, i = http.client.HTTPConnection(host, int(port), timeout=60), n
        while time.monotonic() < stop:
            body = json.dumps({"question": questions[i % len(questions)], "k": 5}).encode()
            i += 1
            t = time.monotonic()
            try:
                conn.request("POST", f"/api/{route}", body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                failed = response.status != 200
            except OSError:
                failed, conn = True, http.client.HTTPConnection(host, int(port), timeout=60)
            with lock:
                ms.append((time.monotonic() - t) * 1000)
                errors[0] += failed

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"requests": len(ms), "errors": errors[0], "latency_ms": _percentiles(ms)}


def _percentiles(ms: list[float]) -> dict:
    if not ms:
        return {}
    return {k: float(np.percentile(ms, p)) for k, p in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))}


def table(f: dict) -> str:
    lat = f["latency_ms"]
    lines = [f"{f['clients']} clients for {f['seconds']:g} s through the Gradio API ({f['cores']} cores)", "",
             "| measure | value |", "|---|---|",
             f"| requests (per second) | {f['requests']:,} ({f['requests'] / f['seconds']:.1f}) |",
             f"| errors | {f['errors']} |",
             f"| latency p50 / p95 / p99 / max (ms) | {lat.get('p50', 0):.0f} / {lat.get('p95', 0):.0f} / "
             f"{lat.get('p99', 0):.0f} / {lat.get('max', 0):.0f} |",
             f"| answers that were neither the before- nor the after-upload answer | {f['answers_neither_before_nor_after']} |"]
    for route, r in f.get("json_api", {}).items():
        lines.append(f"| POST /api/{route}: requests per second; errors; p50 / p95 (ms) | {r['requests'] / f['seconds']:.1f}; "
                     f"{r['errors']}; {r['latency_ms'].get('p50', 0):.0f} / {r['latency_ms'].get('p95', 0):.0f} |")
    if "upload_s" in f:
        d = f["latency_during_upload_ms"] or {}
        lines += [f"| adding an article while they ask (s) | {f['upload_s']:.2f} |",
                  f"| requests answered meanwhile; their p95 (ms) | {f['requests_during_upload']}; {d.get('p95', 0):.0f} |",
                  f"| the new article's question, after | {f['new_article_answer']} (expected {f['new_article_expected']}) |"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
