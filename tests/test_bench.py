"""The benchmarks are not tests, but they must keep working: each runs here on a small slice."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import ROOT

NEWS = ROOT.parent / "shared" / "data" / "vn_news.jsonl.gz"


@pytest.mark.skipif(not NEWS.exists(), reason=f"{NEWS} is not on this machine")
def test_scale_benchmark_runs_on_a_slice(tmp_path):
    out = subprocess.run([sys.executable, "bench/scale.py", "--limit", "12", "--queries", "5", "--index",
                          str(tmp_path / "idx"), "--out", str(tmp_path / "f.json")],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "corpus: 12 articles" in out.stdout and "BM25 scoring, bm25s" in out.stdout
    figures = json.loads((tmp_path / "f.json").read_text())
    assert figures["chunks"] > 12 and figures["tokens"] > 0 and 0.9 <= figures["hnsw_recall@10"] <= 1.0
    assert {"bm25", "dense", "hybrid", "ask", "bm25 scoring, rank-bm25"} <= set(figures["latency_ms"])
    bad = subprocess.run([sys.executable, "bench/scale.py", "--limit", "0"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode != 0 and "at least 1" in bad.stderr and "Traceback" not in bad.stderr
