"""One real index over seeds/ per test session, built with the real converted model."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

import qa
from qa.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
CARD_QUESTION = "Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?"


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    return Settings.from_env(index_dir=tmp_path_factory.mktemp("index") / "seeds")


@pytest.fixture(scope="session")
def seed_index(settings) -> qa.Index:
    return qa.build_index(SEEDS, path=settings.index_dir, settings=settings)


def vectors_of(idx: qa.Index):
    """Every chunk's vector, segment after segment."""
    import numpy as np

    return np.concatenate([x.chunk_vectors() for x in idx.segments])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_server(index: Path, folder: Path, **env):
    """`python app.py` on a free port over a copy of `index` (QA_* variables from `env`); yields its address."""
    shutil.copytree(index, folder / "index")
    port = free_port()
    env = {**os.environ, "QA_INDEX_DIR": str(folder / "index"), "QA_PORT": str(port), **env}
    log = open(folder / "app.log", "w")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 300
    while True:
        try:
            urllib.request.urlopen(url + "api/openapi.json", timeout=5)
            break
        except urllib.error.HTTPError:  # up, and asking for a key
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("app.py did not start:\n" + (folder / "app.log").read_text())
            time.sleep(1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
