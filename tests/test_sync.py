"""Sync: `python -m qa sync SOURCE` adds new articles, re-indexes changed ones and deletes removed ones,
embedding only the chunks that changed; `--watch` keeps doing it."""
import dataclasses
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import qa
from qa.index.store import read_checkpoint
from qa.index.sync import diff, update
from qa.index.vectors import chunk_key
from qa.intake import corpus
from qa.intake.corpus import read_folder

from .conftest import CARD_QUESTION, ROOT, SEEDS


def _qa(index, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", "qa", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "QA_INDEX_DIR": str(index)}, timeout=timeout)


def test_update_embeds_only_the_changed_chunks(seed_index, settings, tmp_path):
    docs = read_folder(SEEDS)
    changed = dataclasses.replace(docs[0], text=docs[0].text + "\nHà Nội hỗ trợ Hòa Bình 2 tỷ đồng làm đường.")
    wanted = [changed, *docs[1:4], corpus.make_document("moi", "Tin mới\n\nĐà Nẵng đón 8 triệu khách.")]
    changes = diff(seed_index, wanted)
    assert (changes.added, changes.changed, changes.removed, changes.unchanged) == (
        ("moi",), (docs[0].id,), (docs[4].id,), 3)
    idx, again = update(seed_index, wanted, tmp_path / "ck")
    assert again == changes and not diff(idx, wanted)
    embedded = set(read_checkpoint(tmp_path / "ck", settings))
    before = {chunk_key(c) for c in seed_index.chunks}
    assert embedded == {chunk_key(c) for c in idx.chunks if chunk_key(c) not in before}
    assert 1 <= len(embedded) <= 3  # the changed article's last chunk(s) and the new one
    assert idx.ask("Hà Nội hỗ trợ Hòa Bình bao nhiêu tiền làm đường?").text == "2 tỷ đồng"
    assert update(idx, wanted)[0] is idx  # nothing to do: the same index


def test_sync_of_a_folder_prints_what_changed(tmp_path):
    folder, index = tmp_path / "docs", tmp_path / "idx"
    shutil.copytree(SEEDS, folder)
    first = _qa(index, "sync", str(folder))
    assert first.returncode == 0 and "5 added" in first.stdout, first.stderr
    (folder / "moi.txt").write_text("Tin mới\n\nĐà Nẵng đón 8 triệu khách du lịch trong năm 2019.", encoding="utf-8")
    (folder / "004_b0df8020306ae6dc.txt").unlink()
    card = folder / "000_8ef5118b6bc49748.txt"
    card.write_text(card.read_text(encoding="utf-8") + "\nThêm một câu.", encoding="utf-8")
    out = _qa(index, "sync", str(folder)).stdout
    assert "1 added (moi), 1 changed (000_8ef5118b6bc49748), 1 removed (004_b0df8020306ae6dc), 3 unchanged" in out
    assert "0 added, 0 changed, 0 removed, 5 unchanged" in _qa(index, "sync", str(folder)).stdout
    idx = qa.load(index)
    assert len(idx.docs) == 5 and idx.ask(CARD_QUESTION).text == "3 tỷ đồng"
    assert idx.ask("Đà Nẵng đón bao nhiêu khách du lịch?").text.startswith("8 triệu khách")
    optimized = _qa(index, "optimize")
    assert optimized.returncode == 0 and "-> 1 at" in optimized.stdout
    assert len(qa.load(index).segments) == 1 and qa.load(index).ask(CARD_QUESTION).text == "3 tỷ đồng"


def test_sync_of_a_records_file(tmp_path):
    records = tmp_path / "news.jsonl.gz"
    rows = [{"id": "a", "title": "Tin A", "text": "Hà Nội tặng Vĩnh Phúc 3 tỷ đồng."},
            {"id": "b", "title": "Tin B", "text": "Đà Nẵng đón 8 triệu khách."}]
    for keep, expect in ((rows, "2 added"), (rows[:1], "1 removed (b)")):
        with gzip.open(records, "wt", encoding="utf-8") as f:
            f.write("\n".join(json.dumps(r, ensure_ascii=False) for r in keep))
        run = _qa(tmp_path / "idx", "sync", str(records))
        assert run.returncode == 0 and expect in run.stdout, run.stderr
    assert [d.id for d in qa.load(tmp_path / "idx").docs] == ["a"]


def test_bad_sync_arguments_are_one_line_errors(tmp_path):
    (tmp_path / "notes.csv").write_text("a,b")
    for args, message in ((["sync", str(tmp_path / "none")], "does not exist"),
                          (["sync", str(tmp_path / "notes.csv")], "not .jsonl"),
                          (["sync", str(SEEDS), "--watch", "0"], "above 0"),
                          (["optimize"], "no index")):
        run = _qa(tmp_path / "idx", *args)
        assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr, (args, run.stderr)


def test_watch_follows_the_folder_until_stopped(tmp_path):
    folder, index = tmp_path / "docs", tmp_path / "idx"
    shutil.copytree(SEEDS, folder)
    log = open(tmp_path / "watch.log", "w+")
    # Ctrl-C as from a terminal: a child inherits an ignored SIGINT (some library in this test process may
    # have set it), and Python then never raises KeyboardInterrupt
    watch = subprocess.Popen([sys.executable, "-m", "qa", "sync", str(folder), "--watch", "0.5"], cwd=ROOT,
                             env={**os.environ, "QA_INDEX_DIR": str(index)}, stdout=log, stderr=subprocess.STDOUT,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def seen(text):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and watch.poll() is None:
            if text in (tmp_path / "watch.log").read_text():
                return True
            time.sleep(0.2)
        return False

    try:
        assert seen("5 added"), (tmp_path / "watch.log").read_text()
        (folder / "moi.txt").write_text("Tin mới\n\nĐà Nẵng đón 8 triệu khách.", encoding="utf-8")
        assert seen("1 added (moi)"), (tmp_path / "watch.log").read_text()
        (folder / "moi.txt").unlink()
        assert seen("1 removed (moi)"), (tmp_path / "watch.log").read_text()
    finally:
        watch.send_signal(signal.SIGINT)
        code = watch.wait(timeout=60)
    assert code == 130 and "Traceback" not in (tmp_path / "watch.log").read_text()
    assert len(qa.load(index).docs) == 5


def test_a_server_sees_what_a_sync_published_reading_only_that(tmp_path, settings):
    from qa.serve.library import Library

    folder, index = tmp_path / "docs", tmp_path / "idx"
    shutil.copytree(SEEDS, folder)
    lib = Library(dataclasses.replace(settings, index_dir=index, corpus_dir=folder))
    before = lib.index
    (folder / "moi.txt").write_text("Tin mới\n\nĐà Nẵng đón 8 triệu khách du lịch trong năm 2019.", encoding="utf-8")
    (folder / "004_b0df8020306ae6dc.txt").unlink()
    assert _qa(index, "sync", str(folder)).returncode == 0
    assert lib.ask("Đà Nẵng đón bao nhiêu khách du lịch?", 5, "hybrid").text.startswith("8 triệu khách")
    after = lib.index
    assert len(after.docs) == 5 and "004_b0df8020306ae6dc" not in {d.id for d in after.docs}
    assert after.segments[0].postings is before.segments[0].postings  # not read again: only its tombstone
    assert after.segments[0].deleted.sum() == 1 and not before.segments[0].deleted.any()
    assert lib.fresh() is after  # nothing new: the same index
