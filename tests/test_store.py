"""Persistence: content-addressed files checked against the manifest, checkpoints, the writer's lock, staleness."""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil

import numpy as np
import pytest

from qa.index import store
from qa.index.index import load
from qa.index.store import (
    CHECKPOINT,
    FORMAT,
    LOCK,
    NO_INDEX,
    IndexProblem,
    atomic_write,
    corpus_hash,
    embedder_tag,
    read_checkpoint,
    read_manifest,
    read_segment,
    stale_reason,
    write_checkpoint,
    writer_lock,
)
from qa.intake.corpus import read_folder

from .conftest import SEEDS


@pytest.fixture
def copy(seed_index, settings, tmp_path):
    """A copy of the seed index's folder, and its manifest."""
    shutil.copytree(settings.index_dir, tmp_path / "idx")
    return tmp_path / "idx", read_manifest(tmp_path / "idx")


def test_read_manifest_of_a_missing_folder_or_a_file_is_none(tmp_path):
    assert read_manifest(tmp_path / "nothing") is None
    assert read_manifest(SEEDS / "003_82f23e52a0d4abee.txt") is None


def test_a_manifest_that_is_not_one_is_refused_in_one_line(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(IndexProblem, match="manifest.json is unreadable"):
        read_manifest(tmp_path)
    for text in ["[]", '{"format": 7}', '{"segments": 3}']:
        (tmp_path / "manifest.json").write_text(text)
        with pytest.raises(IndexProblem, match="is not an index manifest") as e:
            read_manifest(tmp_path)
        assert "\n" not in str(e.value)
    (tmp_path / "manifest.json").write_text('{"segments": []}')
    assert read_manifest(tmp_path) == {"segments": []}


def test_corpus_hash_ignores_order_but_not_content():
    digests = [bytes([i]) * 32 for i in range(5)]
    assert corpus_hash(digests) == corpus_hash(digests[::-1]) == corpus_hash(digests[2:] + digests[:2])
    assert corpus_hash(digests) != corpus_hash(digests[:4]) != corpus_hash(digests[:4] + [b"\x09" * 32])
    assert len(corpus_hash([])) == 64


def test_checkpoint_keys_survive_any_bytes(settings, tmp_path):
    keys = [b"\x01" * 15 + b"\x00", b"\x00" * 16, bytes(range(16))]  # trailing zeros included
    write_checkpoint(tmp_path, settings, keys, np.eye(3, 384, dtype=np.float32))
    back = read_checkpoint(tmp_path, settings)
    assert set(back) == set(keys) and (back[keys[2]] == np.eye(3, 384)[2]).all()


def test_checkpoints_round_trip_batch_after_batch_for_their_own_model_only(settings, tmp_path):
    rng = np.random.default_rng(0)
    first, second = rng.standard_normal((2, 8)).astype(np.float32), rng.standard_normal((1, 8)).astype(np.float32)
    write_checkpoint(tmp_path / "ck", settings, [b"a" * 16, b"b" * 16], first)
    write_checkpoint(tmp_path / "ck", settings, [b"c" * 16], second)
    back = read_checkpoint(tmp_path / "ck", settings)
    assert sorted(back) == [b"a" * 16, b"b" * 16, b"c" * 16]
    assert (back[b"b" * 16] == first[1]).all() and (back[b"c" * 16] == second[0]).all()
    other = dataclasses.replace(settings, embed_model="another/model")
    assert embedder_tag(other) != embedder_tag(settings) and read_checkpoint(tmp_path / "ck", other) == {}
    assert read_checkpoint(tmp_path / "nothing", settings) == {}


def test_a_damaged_or_mismatched_checkpoint_batch_is_skipped(settings, tmp_path, caplog):
    write_checkpoint(tmp_path, settings, [b"a" * 16], np.ones((1, 8), np.float32))
    write_checkpoint(tmp_path, settings, [b"b" * 16], np.ones((1, 4), np.float32))  # another dimension
    (tmp_path / f"{embedder_tag(settings)}-torn.npz").write_bytes(b"PK\x03\x04 torn")
    with caplog.at_level(logging.WARNING, "qa"):
        back = read_checkpoint(tmp_path, settings)
    assert "torn.npz" in caplog.text
    assert len(back) == 1 and {v.shape for v in back.values()} <= {(8,), (4,)}  # one dimension, whichever came first


def test_writer_lock_excludes_a_second_writer(tmp_path):
    with writer_lock(tmp_path / "idx") as first:
        assert first is True and (tmp_path / "idx" / LOCK).exists()
        with writer_lock(tmp_path / "idx", wait=False) as second:
            assert second is False
    with writer_lock(tmp_path / "idx", wait=False) as again:
        assert again is True


def test_atomic_write_names_files_by_content_and_leaves_no_temp_file(tmp_path):
    one = atomic_write(tmp_path, "s000001-docs", ".jsonl", lambda f: f.write(b"hello"))
    assert one["name"] == f"s000001-docs-{one['sha256'][:12]}.jsonl" and one["size"] == 5
    assert atomic_write(tmp_path, "s000001-docs", ".jsonl", lambda f: f.write(b"hello")) == one
    assert store.verified(tmp_path, one) == b"hello"

    def torn(f):
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(tmp_path, "s000001-docs", ".jsonl", torn)
    assert [p.name for p in tmp_path.iterdir()] == [one["name"]]


def test_damaged_or_missing_files_are_refused(seed_index, settings, tmp_path):
    copy = tmp_path / "idx"
    shutil.copytree(settings.index_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    victim = copy / manifest["segments"][0]["files"]["vectors"]["name"]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(IndexProblem, match="damaged") as e:
        load(copy, settings)
    assert "\n" not in str(e.value) and victim.name in str(e.value)
    victim.unlink()
    with pytest.raises(IndexProblem, match="missing"):
        load(copy, settings)
    with pytest.raises(IndexProblem, match="no index"):
        load(tmp_path / "nothing", settings)


@pytest.mark.parametrize("key", ["docs", "chunks", "lexicon", "bm25_rows", "vectors"])
def test_a_truncated_segment_file_is_an_index_problem_naming_it(copy, key):
    path, manifest = copy
    entry = manifest["segments"][0]
    assert len(read_segment(path, entry).chunks) == entry["chunks"]
    victim = path / entry["files"][key]["name"]
    victim.write_bytes(victim.read_bytes()[:-7])
    with pytest.raises(IndexProblem, match="is damaged") as e:
        read_segment(path, entry)
    assert str(e.value) == f"index file {victim} is damaged (size or checksum differs): rebuild the index"


def test_a_manifest_entry_of_another_format_or_a_wrong_tombstone_is_refused(copy):
    path, manifest = copy
    entry = manifest["segments"][0]
    fewer = {**entry, "files": {k: v for k, v in entry["files"].items() if k != "lexicon"}}
    with pytest.raises(IndexProblem, match="does not list this format's files"):
        read_segment(path, fewer)
    tomb = atomic_write(path, "s000001-deleted", ".npy", lambda f: np.save(f, np.zeros(2, bool)))
    with pytest.raises(IndexProblem, match="a tombstone disagrees with its segment"):
        read_segment(path, {**entry, "tombstone": tomb})
    (path / entry["files"]["docs"]["name"]).unlink()
    with pytest.raises(IndexProblem, match="is missing"):
        read_segment(path, entry)


def test_saving_again_writes_nothing_and_removes_what_no_segment_names(copy, settings):
    path, manifest = copy
    idx = load(path, settings)
    named = store.named_files(manifest)
    times = {n: (path / n).stat().st_mtime_ns for n in named}
    (path / "s000009-docs-0123456789ab.jsonl").write_text("left by an older run")
    (path / CHECKPOINT).mkdir()
    (path / LOCK).touch()
    again = store.save(path, idx.segments, idx.manifest)
    assert store.named_files(again) == named and again["format"] == FORMAT
    assert {p.name for p in path.iterdir()} == named | {"manifest.json", CHECKPOINT, LOCK}
    assert {n: (path / n).stat().st_mtime_ns for n in named} == times


def test_stale_reason_says_why_an_index_must_be_built_again(seed_index, settings):
    m, docs = seed_index.manifest, read_folder(SEEDS)
    assert stale_reason(None, settings) == NO_INDEX
    assert stale_reason(m, settings) is None and stale_reason(m, settings, docs) is None
    assert stale_reason({**m, "format": 1}, settings) == f"it was written in format 1, this version reads {FORMAT}"
    assert stale_reason(m, dataclasses.replace(settings, chunk_size=settings.chunk_size + 1)) == "its chunking changed"
    assert stale_reason(m, dataclasses.replace(settings, embed_model="another/model")) == "its model changed"
    other = "onnx-int8" if settings.embed_backend == "torch" else "torch"
    assert stale_reason(m, dataclasses.replace(settings, embed_backend=other)) == "its embedding backend changed"
    assert stale_reason(m, settings, docs[:4]) == "its corpus hash changed"
