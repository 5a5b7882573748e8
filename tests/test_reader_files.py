"""A trained reader's files: its settings and figures beside its weights, and its weights split into parts."""
from __future__ import annotations

import json

import pytest

from qa.models import reader_files


def test_the_card_metadata_is_written_beside_the_weights_and_read_back(tmp_path):
    weights = tmp_path / "reader.safetensors"
    meta = {"base": "e5-small", "layers_trained": 8, "threshold": 7.02, "note": "đọc hiểu tiếng Việt"}
    reader_files.write_meta(weights, meta)
    path = tmp_path / "reader.json"
    assert reader_files.read_meta(weights) == meta and json.loads(path.read_text(encoding="utf-8")) == meta
    written = path.read_text(encoding="utf-8")
    assert "đọc hiểu tiếng Việt" in written and written.endswith("}\n")  # readable, not \u-escaped


def test_writing_the_metadata_again_replaces_it(tmp_path):
    weights = tmp_path / "reader.safetensors"
    reader_files.write_meta(weights, {"threshold": 1.0, "old": True})
    reader_files.write_meta(weights, {"threshold": 2.5})
    assert reader_files.read_meta(weights) == {"threshold": 2.5}


def test_a_reader_without_metadata_is_a_value_error_saying_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="no trained reader at .*QA_READER=rules"):
        reader_files.read_meta(tmp_path / "reader.safetensors")


def test_the_first_part_is_the_weights_file_itself_and_the_others_are_numbered(tmp_path):
    weights = tmp_path / "reader-squad.safetensors"
    assert reader_files.weight_part(weights, 1) == weights
    assert [reader_files.weight_part(weights, n).name for n in (2, 3, 10)] == [
        "reader-squad.2.safetensors", "reader-squad.3.safetensors", "reader-squad.10.safetensors"]


def test_weight_files_lists_the_parts_in_order(tmp_path):
    weights = tmp_path / "reader.safetensors"
    for n in (3, 1, 2):
        reader_files.weight_part(weights, n).write_bytes(b"x")
    assert [p.name for p in reader_files.weight_files(weights)] == [
        "reader.safetensors", "reader.2.safetensors", "reader.3.safetensors"]


def test_weight_files_stop_at_the_first_missing_part(tmp_path):
    weights = tmp_path / "reader.safetensors"
    for n in (1, 2, 4):
        reader_files.weight_part(weights, n).write_bytes(b"x")
    assert [p.name for p in reader_files.weight_files(weights)] == ["reader.safetensors", "reader.2.safetensors"]
    assert reader_files.weight_files(tmp_path / "none.safetensors") == []


def test_the_shipped_reader_has_two_parts_of_at_most_25_mb_and_its_card(settings):
    files = reader_files.weight_files(settings.reader_weights)
    assert [f.name for f in files] == ["reader-squad.safetensors", "reader-squad.2.safetensors"]
    assert all(f.stat().st_size <= 25_000_000 for f in files)
    meta = reader_files.read_meta(settings.reader_weights)
    assert meta["layers_trained"] > 0 and meta["max_len"] > 0 and isinstance(meta["threshold"], float)
