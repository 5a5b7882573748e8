"""One real index over seeds/ per test session, built with the real converted model."""
from __future__ import annotations

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
