"""Persistence: the manifest, integrity checks, rebuilds when the corpus or settings change."""
import dataclasses
import json
import logging
import shutil

import pytest

import qa
from qa.corpus import read_folder
from qa.index import FORMAT, IndexProblem, load, open_or_build

from .conftest import CARD_QUESTION, SEEDS


def test_manifest_records_how_the_index_was_built(seed_index, settings):
    m = json.loads((settings.index_dir / "manifest.json").read_text())
    assert m["model"] == settings.embed_model and m["dimension"] == 384
    assert m["chunking"] == settings.chunking() and len(m["corpus_hash"]) == 64
    assert m["documents"] == 5 and m["chunks"] == len(seed_index.chunks)
    for f in m["files"].values():
        assert (settings.index_dir / f["name"]).stat().st_size == f["size"]


def test_load_gives_the_same_results(seed_index, settings):
    again = load(settings.index_dir, settings)
    assert again.search(CARD_QUESTION, 5) == seed_index.search(CARD_QUESTION, 5)
    assert again.ask(CARD_QUESTION).text == "3 tỷ đồng"


def test_damaged_or_missing_files_are_refused(seed_index, settings, tmp_path):
    copy = tmp_path / "idx"
    shutil.copytree(settings.index_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    victim = copy / manifest["files"]["vectors"]["name"]
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


def test_damaged_index_is_rebuilt_by_open_or_build(seed_index, settings, tmp_path, caplog):
    copy = tmp_path / "idx"
    shutil.copytree(settings.index_dir, copy)
    (copy / json.loads((copy / "manifest.json").read_text())["files"]["docs"]["name"]).write_text("garbage")
    with caplog.at_level(logging.WARNING, "qa"):
        idx = open_or_build(copy, read_folder(SEEDS), settings)
    assert "rebuilding" in caplog.text
    assert idx.ask(CARD_QUESTION).text == "3 tỷ đồng"
    load(copy, settings)  # and the rebuilt one verifies


def test_changed_corpus_or_setting_rebuilds(settings, tmp_path, caplog):
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(SEEDS / "001_6bf9596543eff144.txt", folder)
    path = tmp_path / "idx"
    first = open_or_build(path, read_folder(folder), settings)
    assert first.manifest["documents"] == 1
    assert open_or_build(path, read_folder(folder), settings).manifest["built_at"] == first.manifest["built_at"]
    shutil.copy(SEEDS / "003_82f23e52a0d4abee.txt", folder)
    with caplog.at_level(logging.WARNING, "qa"):
        second = open_or_build(path, read_folder(folder), settings)
    assert "corpus hash changed" in caplog.text and second.manifest["documents"] == 2
    third = open_or_build(path, read_folder(folder), dataclasses.replace(settings, chunk_size=400))
    assert "chunking changed" in caplog.text and third.manifest["chunks"] > second.manifest["chunks"]
    assert len(list(path.glob("vectors-*"))) == 1, "old files are cleaned up"


def test_bad_files_are_skipped_with_a_warning(tmp_path, settings, caplog):
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(SEEDS / "003_82f23e52a0d4abee.txt", folder / "good.txt")
    (folder / "empty.txt").write_text("  \n")
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02PNG")
    (folder / "latin1.md").write_bytes("Thành phố Hà Nội".encode("cp1258", errors="replace"))
    (folder / "ignored.pdf").write_bytes(b"%PDF")
    with caplog.at_level(logging.WARNING, "qa"):
        idx = qa.build_index(folder, settings=settings)
    assert [d.id for d in idx.docs] == ["good"]
    for name in ["empty.txt", "binary.txt", "latin1.md"]:
        assert name in caplog.text
    assert idx.ask(CARD_QUESTION).text == "3 tỷ đồng"


def test_build_from_records_and_titles(settings):
    idx = qa.build_index([{"id": "a", "text": "Tiêu đề ngắn\nHà Nội có 30 quận, huyện."},
                          {"id": "b", "title": "Khác", "text": "Hải Phòng là thành phố cảng."},
                          {"id": "c", "text": "   "}], settings=settings)
    assert [(d.id, d.title) for d in idx.docs] == [("a", "Tiêu đề ngắn"), ("b", "Khác")]
    assert idx.ask("Hà Nội có bao nhiêu quận, huyện?").text == "30 quận, huyện".split(",")[0]


def test_another_model_by_path_is_recorded(settings, tmp_path):
    from qa.embed import model_path

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
        idx = open_or_build(copy, read_folder(SEEDS), settings)
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
