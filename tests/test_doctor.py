"""`python -m qa doctor`: one line per check, each problem named with its fix, nothing changed."""
from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys

import pytest

import qa
from qa.index.store import CHECKPOINT, writer_lock
from qa.serve import doctor

from .conftest import ROOT, SEEDS


@pytest.fixture()
def setup(seed_index, settings, tmp_path):
    """A copy of the seeds and of their index, built from that copy."""
    folder, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(SEEDS, folder)
    s = dataclasses.replace(settings, index_dir=index, corpus_dir=folder)
    shutil.copytree(settings.index_dir, index)
    qa.open_index(s, folder)  # records the copy as its folder; the vectors are reused
    return s, folder, index


def _doctor(settings) -> tuple[int, list[str]]:
    lines: list[str] = []
    return doctor.run(settings, lines.append), lines


def _problems(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("PROBLEM")]


def test_a_healthy_setup_passes_every_check(setup):
    rc, lines = _doctor(setup[0])
    assert rc == 0 and not _problems(lines) and len(lines) >= 6, lines
    assert any(re.search(r"in 1 segments? at .*every file matches the manifest", line) for line in lines)


def test_a_damaged_index_file_is_named_with_its_fix(setup):
    settings, _, index = setup
    weights = next(index.glob("*-bm25-counts-*.npy"))
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    rc, lines = _doctor(settings)
    [problem] = _problems(lines)
    assert rc == 1 and weights.name in problem and "damaged" in problem and "python -m qa" in problem
    assert weights.read_bytes() == bytes(data)  # the doctor changes nothing


def test_stale_interrupted_and_locked_indexes_are_reported(setup):
    settings, folder, index = setup
    (folder / "new.txt").write_text("Bài mới về Hà Nội.", encoding="utf-8")
    (index / CHECKPOINT).mkdir()
    rc, lines = _doctor(settings)
    problems = " | ".join(_problems(lines))
    assert rc == 1 and "out of date (its corpus hash changed)" in problems and "interrupted indexing run" in problems
    with writer_lock(index):
        rc, lines = _doctor(settings)
    assert rc == 1 and "an indexing run is writing" in " ".join(_problems(lines))


def test_bad_corpus_files_and_a_missing_model_cache_are_reported(setup, tmp_path):
    settings, folder, _ = setup
    (folder / "bad.txt").write_bytes(b"\x00\x01binary")
    (folder / "latin1.md").write_bytes("Hà Nội".encode("latin-1", "replace") + b"\xe0")
    rc, lines = _doctor(dataclasses.replace(settings, cache_dir=tmp_path / "empty-cache"))
    problems = _problems(lines)
    assert rc == 1 and len(problems) == 2, lines  # the model cache and the corpus (bad files are skipped)
    assert any("bad.txt (binary file)" in p and "latin1.md (not UTF-8 text)" in p for p in problems)
    assert any(p.startswith("PROBLEM model cache") and "python -m qa index" in p for p in problems)
    assert not (tmp_path / "empty-cache").exists()


def test_cli_doctor_exit_status(setup):
    settings, _, index = setup
    ok = subprocess.run([sys.executable, "-m", "qa", "--index", str(index), "doctor"], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0 and ok.stdout.count("\n") >= 6 and "PROBLEM" not in ok.stdout, ok.stdout + ok.stderr
    missing = subprocess.run([sys.executable, "-m", "qa", "--index", str(index / "nope"), "doctor"], cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1 and "PROBLEM index: no index at" in missing.stdout


def test_the_milvus_store_is_checked(setup, tmp_path):
    s = dataclasses.replace(setup[0], store=f"milvus:{tmp_path / 'qa.db'}")
    rc, lines = _doctor(s)
    store = [line for line in lines if " store: " in line]
    assert rc == 0 and store and "there is no collection" in store[0], lines  # the search check then fills it
    assert "the collection holds the index" in [line for line in _doctor(s)[1] if " store: " in line][0]
    from qa.index import milvus

    milvus.close(s)
    rc, lines = _doctor(dataclasses.replace(s, store="http://127.0.0.1:1", milvus_timeout=2))
    assert rc == 1 and any(line.startswith("PROBLEM store: cannot open Milvus at http://127.0.0.1:1") for line in lines), lines


def test_a_language_model_server_that_is_down_is_a_problem(setup):
    from qa.answer import generate

    rc, lines = _doctor(dataclasses.replace(setup[0], llm_url="http://127.0.0.1:1/v1", llm_api_key="bi-mat"))
    generate.forget_failures()
    assert rc == 1 and any(line.startswith("PROBLEM language model: Không kết nối được") for line in lines), lines
    assert not any("bi-mat" in line for line in lines)
