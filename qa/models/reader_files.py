"""A trained reader on disk: its tensors in files of at most 25 MB (what git keeps) and its JSON of
settings and figures. Shared by training, which writes them, and serving, which reads them (no torch here)."""
from __future__ import annotations

import json
from pathlib import Path


def read_meta(weights: Path) -> dict:
    """The reader's settings and figures written beside its weights by training."""
    path = Path(weights).with_suffix(".json")
    if not path.is_file():
        raise ValueError(f"no trained reader at {weights}: run `make train-reader`, or set QA_READER=rules")
    return json.loads(path.read_text(encoding="utf-8"))


def write_meta(weights: Path, meta: dict) -> None:
    """The reader's settings and figures, beside its weights (read back by `read_meta`)."""
    Path(weights).with_suffix(".json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n",
                                                  encoding="utf-8")


def weight_part(weights: Path, n: int) -> Path:
    """The n-th file of a reader's tensors (1: `weights` itself, then NAME.2.safetensors…): git keeps files
    of at most 25 MB, so a larger reader is split."""
    return Path(weights) if n == 1 else Path(weights).with_suffix(f".{n}.safetensors")


def weight_files(weights: Path) -> list[Path]:
    """Every file of the reader's tensors, in order."""
    files = []
    while (path := weight_part(weights, len(files) + 1)).is_file():
        files.append(path)
    return files
