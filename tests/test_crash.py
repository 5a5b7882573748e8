"""Crash safety: an indexing run, a sync (adding, replacing, deleting), a merge or an optimize killed with
SIGKILL at any point leaves the previous index loadable and answering as before, and the next run finishes
the job.

The kills are real: a child process runs `python -m qa …` with qa.index.store's file writes wrapped to SIGKILL the
process at a chosen moment (before the n-th file write, halfway through one, just before the manifest is
published, just after), or is killed from outside after a delay."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

import qa
from qa.index.store import CHECKPOINT, SEGMENT_FILES, named_files
from qa.intake.corpus import make_document, read_folder
from qa.text.split import ChunkTable

from .conftest import CARD_QUESTION, ROOT, SEEDS

NEW_ARTICLE = ("Hà Nội hỗ trợ Hòa Bình xây trường học\n\nUBND TP. Hà Nội quyết định hỗ trợ tỉnh Hòa Bình 7 tỷ đồng "
               "để xây dựng trường học vùng cao. Số tiền được chuyển trong tháng 12.\n") * 8
NEW_QUESTION = "Hà Nội hỗ trợ Hòa Bình bao nhiêu tiền xây trường học?"

CHILD = r"""
import os, signal, sys
import qa.index.store as st
point, n = sys.argv[1], int(sys.argv[2])
calls = 0
def die():
    os.kill(os.getpid(), signal.SIGKILL)
write = st.atomic_write
def counted(folder, stem, suffix, fn):
    global calls
    calls += 1
    if point == "before-write" and calls == n:
        die()
    if point == "torn-write" and calls == n:
        def torn(f):
            f.write(b"\x00" * 100)
            die()
        return write(folder, stem, suffix, torn)
    return write(folder, stem, suffix, fn)
st.atomic_write = counted
replace = os.replace
def publish(src, dst):
    if point == "before-publish" and str(dst).endswith("manifest.json"):
        die()
    replace(src, dst)
    if point == "after-publish" and str(dst).endswith("manifest.json"):
        die()
st.os.replace = publish
from qa.__main__ import main
code = main(sys.argv[3:])
if point == "count":
    print("WRITES", calls)
sys.exit(code)
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, settings):
    """A copy of the seeds with an index built, then one article more: the next run has work to do."""
    base = tmp_path_factory.mktemp("crash")
    folder, index = base / "corpus", base / "index"
    shutil.copytree(SEEDS, folder)
    qa.open_index(qa.Settings.from_env(index_dir=index, cache_dir=settings.cache_dir), folder)
    (folder / "999_new.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    return folder, index


def _env(index):
    return {**os.environ, "QA_INDEX_DIR": str(index), "QA_CHECKPOINT_CHUNKS": "1", "PYTHONPATH": str(ROOT)}


def _unchanged(index, manifest, answer, hits):
    idx = qa.load(index)
    assert idx.manifest == manifest
    assert idx.ask(CARD_QUESTION).to_dict() == answer
    assert [h.to_dict() for h in idx.search(CARD_QUESTION, 5)] == hits


def test_a_killed_index_run_leaves_the_previous_index_and_the_next_run_finishes(corpus):
    folder, index = corpus
    before = qa.load(index)
    manifest, answer = before.manifest, before.ask(CARD_QUESTION).to_dict()
    hits = [h.to_dict() for h in before.search(CARD_QUESTION, 5)]
    new_chunks = len(ChunkTable.split(read_folder(folder)[-1:], before.settings))
    writes = new_chunks + len(SEGMENT_FILES)  # one checkpoint per chunk, then the new segment's files
    faults = [(point, n) for point in ("before-write", "torn-write") for n in range(1, writes + 1)] + [
        ("before-publish", 0)]
    for point, n in faults:
        shutil.rmtree(index / CHECKPOINT, ignore_errors=True)  # each run starts from the same state
        run = subprocess.run([sys.executable, "-c", CHILD, point, str(n), "index", str(folder)], cwd=ROOT, env=_env(index),
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == -signal.SIGKILL, f"{point} {n}: not interrupted ({run.stderr[-300:]})"
        _unchanged(index, manifest, answer, hits)
    kills = 0
    for delay in (0.3, 1.0, 2.0):  # killed from outside, wherever it is
        run = subprocess.Popen([sys.executable, "-m", "qa", "index", str(folder)], cwd=ROOT, env=_env(index),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        run.send_signal(signal.SIGKILL)
        if run.wait() != -signal.SIGKILL:  # it finished first (a fast machine): the new article is in, whole
            assert run.returncode == 0 and qa.load(index).ask(NEW_QUESTION).text == "7 tỷ đồng"
            break
        _unchanged(index, manifest, answer, hits)
        kills += 1
    assert kills, "every run finished before it was killed: lower the delays"

    done = subprocess.run([sys.executable, "-m", "qa", "index", str(folder)], cwd=ROOT, env=_env(index),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    idx = qa.load(index)
    assert idx.ask(NEW_QUESTION).text == "7 tỷ đồng" and idx.ask(CARD_QUESTION).text == "3 tỷ đồng"
    assert {p.name for p in index.iterdir()} == named_files(idx.manifest) | {"manifest.json", ".lock"}  # no temp file, no checkpoint


def test_killed_after_publishing_the_new_index_is_complete(corpus, tmp_path):
    folder, index = corpus
    copy = tmp_path / "index"
    shutil.copytree(index, copy)
    (folder / "998_more.txt").write_text(NEW_ARTICLE.replace("7 tỷ", "9 tỷ").replace("Hòa Bình", "Sơn La"),
                                         encoding="utf-8")
    try:
        run = subprocess.run([sys.executable, "-c", CHILD, "after-publish", "0", "index", str(folder)], cwd=ROOT,
                             env=_env(copy), capture_output=True, text=True, timeout=300)
        assert run.returncode == -signal.SIGKILL, run.stderr[-500:]
        idx = qa.load(copy)  # the new manifest and every file it names are there
        assert idx.ask("Hà Nội hỗ trợ Sơn La bao nhiêu tiền xây trường học?").text == "9 tỷ đồng"
        assert json.loads((copy / "manifest.json").read_text())["documents"] == len(idx.docs)
    finally:
        (folder / "998_more.txt").unlink()


def _change(folder, what):
    """Change a copy of the corpus folder for one kind of run; the command to run and the check after it."""
    if what == "delete":
        (folder / "004_b0df8020306ae6dc.txt").unlink()
        return ["sync", str(folder)], lambda idx: len(idx.docs) == 5 and idx.manifest["segments"][0]["tombstone"]
    if what == "replace":
        article = folder / "999_new.txt"
        article.write_text(article.read_text(encoding="utf-8").replace("7 tỷ", "8 tỷ"), encoding="utf-8")
        return ["sync", str(folder)], lambda idx: idx.ask(NEW_QUESTION).text == "8 tỷ đồng"
    if what == "merge":  # with QA_MERGE_FACTOR=2: the new segment and the two there are merged into one
        (folder / "998_more.txt").write_text(NEW_ARTICLE.replace("7 tỷ", "9 tỷ").replace("Hòa Bình", "Sơn La"),
                                             encoding="utf-8")
        return ["sync", str(folder)], lambda idx: len(idx.segments) == 1 and len(idx.docs) == 7
    (folder / "004_b0df8020306ae6dc.txt").unlink()  # optimize: one segment, the deleted article dropped
    subprocess.run([sys.executable, "-m", "qa", "sync", str(folder)], cwd=ROOT, env=_env(folder.parent / "index"),
                   check=True, capture_output=True)
    return ["optimize"], lambda idx: len(idx.segments) == 1 and idx.manifest["segments"][0]["deleted"] == 0


@pytest.mark.parametrize("what", ["delete", "replace", "merge", "optimize"])
def test_a_killed_sync_merge_or_optimize_leaves_the_previous_index(corpus, tmp_path, what):
    """From an index of two segments (the seeds, then one article added), killed at every file write."""
    base = tmp_path / what
    shutil.copytree(corpus[0], base / "corpus")
    shutil.copytree(corpus[1], base / "index")
    folder, index = base / "corpus", base / "index"
    env = {**_env(index), "QA_MERGE_FACTOR": "2" if what == "merge" else "10", "QA_CHECKPOINT_CHUNKS": "512"}
    subprocess.run([sys.executable, "-m", "qa", "sync", str(folder)], cwd=ROOT, env=env, check=True, capture_output=True)
    argv, done = _change(folder, what)
    before = qa.load(index)
    manifest, answer = before.manifest, before.ask(CARD_QUESTION).to_dict()
    hits = [h.to_dict() for h in before.search(CARD_QUESTION, 5)]
    shutil.copytree(base, tmp_path / "count")  # how many files the run writes, on a copy
    count = subprocess.run([sys.executable, "-c", CHILD, "count", "0", *[a.replace(str(base), str(tmp_path / "count"))
                                                                         for a in argv]],
                           cwd=ROOT, env={**env, "QA_INDEX_DIR": str(tmp_path / "count" / "index")},
                           capture_output=True, text=True, timeout=300)
    writes = int(count.stdout.split("WRITES")[-1])
    assert count.returncode == 0 and writes >= 1, count.stderr[-500:]
    for point, n in [(p, n) for p in ("before-write", "torn-write") for n in range(1, writes + 1)] + [("before-publish", 0)]:
        shutil.rmtree(index / CHECKPOINT, ignore_errors=True)  # each run starts from the same state
        run = subprocess.run([sys.executable, "-c", CHILD, point, str(n), *argv], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == -signal.SIGKILL, f"{point} {n}: not interrupted ({run.stderr[-300:]})"
        _unchanged(index, manifest, answer, hits)
    finish = subprocess.run([sys.executable, "-m", "qa", *argv], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert finish.returncode == 0, finish.stderr
    idx = qa.load(index)
    assert done(idx) and idx.ask(CARD_QUESTION).text == "3 tỷ đồng"
    assert {p.name for p in index.iterdir()} == named_files(idx.manifest) | {"manifest.json", ".lock"}


READER = r"""
import json, pathlib, sys
import qa
path, stop = sys.argv[1], pathlib.Path(sys.argv[2])
loads, errors, seen = 0, [], set()
while not stop.exists():
    try:
        idx = qa.load(path)
        idx.bm25.scores(["hà", "nội"])  # read the memory-mapped arrays too
        seen.add(len(idx.docs))
        loads += 1
        stop.with_suffix(".ready").touch()
    except Exception as e:
        errors.append(f"{type(e).__name__}: {e}")
print(json.dumps({"loads": loads, "errors": errors[:5], "documents": sorted(seen)}))
"""


def test_readers_never_see_a_half_written_index(seed_index, tmp_path):
    """A process loading the index over and over while another saves two versions of it in turn: every
    load gives one version or the other, whole, and none fails (files of a replaced version may vanish
    between reading the manifest and opening them: the loader then reads the new manifest)."""
    path, stop = tmp_path / "index", tmp_path / "stop"
    shutil.copytree(seed_index.path, path)
    old = qa.load(path)
    new = old.add([make_document("999_new", NEW_ARTICLE)])
    reader = subprocess.Popen([sys.executable, "-c", READER, str(path), str(stop)], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not stop.with_suffix(".ready").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # until the reader is loading
    i, until = 0, time.monotonic() + 3
    while i < 40 or time.monotonic() < until:  # a save writes only the new segment: keep going for a while
        (new if i % 2 == 0 else old).save(path)
        time.sleep(0.005 * (i % 5))  # each version stays published for a moment, now and then
        i += 1
    stop.touch()
    report = json.loads(reader.communicate(timeout=300)[0])
    assert report["errors"] == [] and report["loads"] >= 20, report
    assert report["documents"] == [5, 6], report  # both versions seen, nothing else
