"""Persistence: the manifest, integrity checks, rebuilds when the corpus or settings change."""
import dataclasses
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

import qa
from eval.xquad import DEFAULT_PATH as XQUAD
from qa.index import store
from qa.index.index import build, load
from qa.index.store import CHECKPOINT, FORMAT, IndexProblem
from qa.index.sync import open_or_build, previous_vectors
from qa.intake import corpus
from qa.intake.corpus import read_folder

from .conftest import CARD_QUESTION, ROOT, SEEDS


def test_manifest_records_how_the_index_was_built(seed_index, settings):
    m = json.loads((settings.index_dir / "manifest.json").read_text())
    assert m["model"] == settings.embed_model and m["dimension"] == 384
    assert m["chunking"] == settings.chunking() and len(m["corpus_hash"]) == 64
    assert m["documents"] == 5 and m["chunks"] == len(seed_index.chunks)
    assert [s["name"] for s in m["segments"]] == ["s000001"] and m["segments"][0]["tombstone"] is None
    for f in m["segments"][0]["files"].values():
        assert (settings.index_dir / f["name"]).stat().st_size == f["size"]


def test_load_gives_the_same_results(seed_index, settings):
    again = load(settings.index_dir, settings)
    assert again.search(CARD_QUESTION, 5) == seed_index.search(CARD_QUESTION, 5)
    assert again.ask(CARD_QUESTION).text == "3 tỷ đồng"


def test_damaged_index_is_rebuilt_by_open_or_build(seed_index, settings, tmp_path, caplog):
    copy = tmp_path / "idx"
    shutil.copytree(settings.index_dir, copy)
    (copy / json.loads((copy / "manifest.json").read_text())["segments"][0]["files"]["docs"]["name"]).write_text("garbage")
    with caplog.at_level(logging.WARNING, "qa"):
        idx, _ = open_or_build(copy, read_folder(SEEDS), settings)
    assert "rebuilding" in caplog.text
    assert idx.ask(CARD_QUESTION).text == "3 tỷ đồng"
    load(copy, settings)  # and the rebuilt one verifies


def test_a_changed_corpus_syncs_and_a_changed_setting_rebuilds(settings, tmp_path, caplog):
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(SEEDS / "001_6bf9596543eff144.txt", folder)
    path = tmp_path / "idx"
    first, changes = open_or_build(path, read_folder(folder), settings)
    assert first.manifest["documents"] == 1 and changes.added == ("001_6bf9596543eff144",)
    again, changes = open_or_build(path, read_folder(folder), settings)
    assert not changes and again.manifest["built_at"] == first.manifest["built_at"]  # nothing written
    shutil.copy(SEEDS / "003_82f23e52a0d4abee.txt", folder)
    with caplog.at_level(logging.WARNING, "qa"):
        second, changes = open_or_build(path, read_folder(folder), settings)
    assert "rebuilding" not in caplog.text and changes.added == ("003_82f23e52a0d4abee",)
    assert second.manifest["documents"] == 2 and len(second.segments) == 2  # the new article is a segment
    third, changes = open_or_build(path, read_folder(folder), dataclasses.replace(settings, chunk_size=400))
    assert "chunking changed" in caplog.text and changes.rebuilt and third.manifest["chunks"] > second.manifest["chunks"]
    assert len(list(path.glob("*-vectors-*"))) == 1, "old files are cleaned up"


def test_bad_files_are_skipped_with_a_warning(tmp_path, settings, caplog):
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(SEEDS / "003_82f23e52a0d4abee.txt", folder / "good.txt")
    (folder / "empty.txt").write_text("  \n")
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02PNG")
    (folder / "latin1.md").write_bytes("Thành phố Hà Nội".encode("cp1258", errors="replace"))
    (folder / "broken.pdf").write_bytes(b"%PDF")
    (folder / "ignored.png").write_bytes(b"\x89PNG")
    with caplog.at_level(logging.WARNING, "qa"):
        idx = qa.build_index(folder, settings=settings)
    assert [d.id for d in idx.docs] == ["good"]
    for name in ["empty.txt", "binary.txt", "latin1.md", "broken.pdf"]:
        assert name in caplog.text
    assert idx.ask(CARD_QUESTION).text == "3 tỷ đồng"


def test_dates_sources_and_links_are_stored_and_carried_by_every_hit(settings, tmp_path):
    records = [{"id": "a", "title": "Hà Nội có 30 quận, huyện", "text": "Hà Nội có 30 quận, huyện.", "date": "2019-03-15",
                "source": "Báo Mẫu", "url": "https://bao.example/a", "category": "Thời sự"},
               {"id": "b", "text": "Hải Phòng, 2/1/2018 – Hải Phòng là thành phố cảng."}]
    idx = qa.build_index(records, path=tmp_path / "i", settings=settings)
    back = qa.load(tmp_path / "i", settings)
    assert back.docs == idx.docs and back.document("a").meta == {"category": "Thời sự"}
    hits = {h.doc_id: h for h in back.search("Hà Nội có bao nhiêu quận?", 5)}
    assert (hits["a"].date, hits["a"].source, hits["a"].url) == ("2019-03-15", "Báo Mẫu", "https://bao.example/a")
    assert hits["b"].date == "2018-01-02" and hits["b"].source == ""  # from its dateline
    moved = [dict(records[0], date="2019-03-16"), records[1]]
    assert store.corpus_hash([d.digest() for d in corpus.from_records(moved)]) != idx.manifest["corpus_hash"]  # a new date is a change


def test_build_from_records_and_titles(settings):
    idx = qa.build_index([{"id": "a", "text": "Tiêu đề ngắn\nHà Nội có 30 quận, huyện."},
                          {"id": "b", "title": "Khác", "text": "Hải Phòng là thành phố cảng."},
                          {"id": "c", "text": "   "}], settings=settings)
    assert [(d.id, d.title) for d in idx.docs] == [("a", "Tiêu đề ngắn"), ("b", "Khác")]
    assert idx.ask("Hà Nội có bao nhiêu quận, huyện?").text == "30 quận, huyện".split(",")[0]


def test_another_model_by_path_is_recorded(settings, tmp_path):
    from qa.models.embed import model_path

    other = dataclasses.replace(settings, embed_model=model_path(settings))
    idx = qa.build_index([{"id": "x", "text": "Hà Nội tặng Vĩnh Phúc 3 tỷ đồng."}], path=tmp_path / "i", settings=other)
    assert load(tmp_path / "i").manifest["model"] == other.embed_model
    assert idx.search("Vĩnh Phúc", 1)[0].doc_id == "x"


def test_unreadable_manifest_is_refused_or_rebuilt(seed_index, settings, tmp_path, caplog):
    with pytest.raises(IndexProblem, match="no index"):
        load(SEEDS / "003_82f23e52a0d4abee.txt", settings)  # a file, not an index folder
    copy = tmp_path / "idx"
    shutil.copytree(settings.index_dir, copy)
    (copy / "manifest.json").write_text("{not json")
    with pytest.raises(IndexProblem, match="manifest.json is unreadable"):
        load(copy, settings)
    with pytest.raises(IndexProblem, match="unreadable"):
        qa.open_index(dataclasses.replace(settings, index_dir=copy))  # a user's index: refused, not replaced
    with caplog.at_level(logging.WARNING, "qa"):
        idx, _ = open_or_build(copy, read_folder(SEEDS), settings)
    assert "rebuilding" in caplog.text and idx.ask(CARD_QUESTION).text == "3 tỷ đồng"


def test_an_index_of_an_older_format_is_rebuilt_from_its_folder(settings, seed_index, tmp_path, caplog):
    copy = tmp_path / "idx"
    shutil.copytree(settings.index_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "format": 1}))
    with pytest.raises(IndexProblem, match="format 1"):
        load(copy, settings)
    with caplog.at_level(logging.WARNING, "qa"):
        idx = qa.open_index(dataclasses.replace(settings, index_dir=copy))
    assert "format 1" in caplog.text and idx.manifest["format"] == FORMAT and idx.ask(CARD_QUESTION).text == "3 tỷ đồng"


def test_an_interrupted_index_run_resumes_without_redoing_finished_batches(tmp_path):
    from eval.xquad import read_xquad

    if not XQUAD.exists():
        pytest.skip(f"{XQUAD} is not on this machine")
    docs, _ = read_xquad(XQUAD)
    source = tmp_path / "docs.jsonl"
    source.write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in docs[:120]), encoding="utf-8")
    env = {**os.environ, "QA_CHECKPOINT_CHUNKS": "16", "QA_INDEX_DIR": str(tmp_path / "idx")}
    cmd = [sys.executable, "-m", "qa", "index", "--jsonl", str(source)]
    run = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = tmp_path / "idx" / CHECKPOINT
    deadline = time.monotonic() + 240
    while len(list(partial.glob("*.npz"))) < 3 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert len(list(partial.glob("*.npz"))) >= 3, "the run ended before it could be interrupted"
    assert not (tmp_path / "idx" / "manifest.json").exists()  # no index was published
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    unchanged = int(re.search(r"\(([\d,]+) unchanged\)", again.stderr).group(1).replace(",", ""))
    assert unchanged >= 3 * 16
    idx = load(tmp_path / "idx")
    assert len(idx.docs) == 120 and not partial.exists()


def test_large_indexes_search_an_hnsw_graph(seed_index, settings, tmp_path):
    import faiss

    small = dataclasses.replace(settings, hnsw_min_chunks=10)  # the seeds' 63 chunks count as "large" here
    known = previous_vectors(settings.index_dir, settings)
    idx = build(read_folder(SEEDS), small, known=known)
    assert isinstance(idx.segments[0].vectors, faiss.IndexHNSW)
    assert isinstance(seed_index.segments[0].vectors, faiss.IndexScalarQuantizer)
    assert idx.search(CARD_QUESTION, 3, "dense") == seed_index.search(CARD_QUESTION, 3, "dense")
    idx.save(tmp_path / "hnsw")
    again = load(tmp_path / "hnsw", small)
    graph = again.segments[0].vectors
    assert isinstance(graph, faiss.IndexHNSW) and graph.hnsw.efSearch == small.hnsw_ef_search
    assert again.ask(CARD_QUESTION).text == "3 tỷ đồng"
