"""Embedding on a real Ray cluster of two nodes on 127.0.0.1, started here and stopped again: the vectors
are those of one process, an interrupted `index --jsonl … --ray` resumes from its checkpoints, and a
cluster that is not there is one line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import qa
from harness import raycluster
from qa.index.store import CHECKPOINT
from qa.index.sync import previous_vectors
from qa.intake.corpus import read_folder
from qa.models import cluster, embed
from qa.text.split import indexed_text

from .conftest import CARD_QUESTION, ROOT, SEEDS, free_port

ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.fixture(scope="module")
def ray_cluster():
    with raycluster.local(nodes=2, cpus=1) as address:
        yield address


def test_two_workers_on_two_nodes_embed_what_one_process_embeds(ray_cluster, seed_index, settings):
    texts = [indexed_text(c) for c in seed_index.chunks]
    with cluster.embedder(qa.Settings.from_env(ray_address=ray_cluster, batch_size=8)) as run:
        assert (run.workers, run.nodes) == (2, 2)
        remote = run(texts)
    local = embed.encode(embed.load_model(settings), texts, "passage", 8)
    assert remote.shape == local.shape
    assert np.abs(remote - local).max() < 1e-4  # the same batches: only thread counts differ


def _cli(index: Path, *args, **env):
    return [sys.executable, "-m", "qa", "--index", str(index), *args], {**ENV, **env}


def test_index_jsonl_on_the_cluster_resumes_and_matches_a_single_process_build(ray_cluster, seed_index, settings, tmp_path):
    records = tmp_path / "seeds.jsonl"
    records.write_text("".join(json.dumps(d.record(), ensure_ascii=False) + "\n" for d in read_folder(SEEDS)), encoding="utf-8")
    index = tmp_path / "index"
    argv, env = _cli(index, "index", "--jsonl", str(records), "--ray", ray_cluster,
                     QA_CHECKPOINT_CHUNKS="16", QA_BATCH_SIZE="8")
    first = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not any((index / CHECKPOINT).glob("*.npz")) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    first.kill()  # a batch being written is still a hidden temporary file: "*.npz" are finished batches
    first.wait()
    assert any((index / CHECKPOINT).glob("*.npz")), "the run was not interrupted after its first checkpoint"
    second = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    unchanged = int(second.stderr.split(" unchanged) on 2 Ray workers")[0].rsplit("(", 1)[-1].replace(",", ""))
    assert 16 <= unchanged < len(seed_index.chunks), second.stderr[-500:]  # resumed: only the rest embedded
    built, single = previous_vectors(index, settings), previous_vectors(seed_index.path, settings)
    assert built.keys() == single.keys() and len(built) == len(seed_index.chunks)
    cosines = [float(built[k] @ single[k]) for k in single]
    assert min(cosines) > 0.995  # other batches (8, not 32): the int8 model's vectors move a little
    assert qa.load(index).ask(CARD_QUESTION).text == "3 tỷ đồng"


def test_a_cluster_that_is_not_there_is_one_line(tmp_path):
    argv, env = _cli(tmp_path / "index", "index", str(SEEDS), "--ray", f"127.0.0.1:{free_port()}")
    run = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 2 and "cannot join the Ray cluster at" in run.stderr and "Traceback" not in run.stderr, run.stderr[-1000:]
