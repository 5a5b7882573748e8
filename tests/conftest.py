"""One real index over seeds/ per test session, built with the real converted model."""
from __future__ import annotations

import os
import shutil
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

import qa
from harness.process import answers, free_port, running  # noqa: F401 (free_port: the tests' import)
from qa.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
CARD_QUESTION = "Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?"
NEW_ARTICLE = (  # an article a test adds, and the question it answers
    "Đà Nẵng hỗ trợ Quảng Nam 5 tỷ đồng khắc phục hậu quả bão số 9\n"
    "Sáng 30/10, Chủ tịch UBND TP Đà Nẵng Lê Trung Chinh đã trao 5 tỷ đồng hỗ trợ tỉnh Quảng Nam khắc phục "
    "hậu quả bão số 9. Số tiền được dùng để sửa chữa trường học và nhà ở của người dân vùng lũ.\n"
    "Phó Chủ tịch UBND tỉnh Quảng Nam Trần Văn Tân cảm ơn sự chia sẻ của thành phố Đà Nẵng.")
NEW_QUESTION = "Đà Nẵng hỗ trợ Quảng Nam bao nhiêu tiền?"


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


@contextmanager
def app_server(index: Path, folder: Path, **env):
    """`python app.py` on a free port over a copy of `index` (QA_* variables from `env`); yields its address."""
    shutil.copytree(index, folder / "index")
    port = free_port()
    env = {**os.environ, "QA_INDEX_DIR": str(folder / "index"), "QA_PORT": str(port), **env}
    url = f"http://127.0.0.1:{port}/"
    with open(folder / "app.log", "w") as log, ExitStack() as stack:
        try:
            stack.enter_context(running([sys.executable, "app.py"], lambda: answers(url + "api/openapi.json"), 300,
                                        "app.py", log, cwd=ROOT, env=env))
        except RuntimeError as e:
            pytest.fail(f"{e}:\n" + (folder / "app.log").read_text())
        yield url
