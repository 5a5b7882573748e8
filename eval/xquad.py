"""XQuAD-vi (SQuAD v1.1 format) as an open-retrieval gold set: each paragraph is a document."""
from __future__ import annotations

import json
import os
from pathlib import Path

from qa.config import Settings

# Where the tests and bench/peer_haystack.py look for it: $XQUAD, else the data folder (QA_DATA_DIR).
DEFAULT_PATH = Path(os.environ.get("XQUAD") or Settings.from_env_only("data_dir").xquad())


def read_xquad(path: str | Path) -> tuple[list[dict], list[dict]]:
    """(documents as {"id", "title", "text"} records, questions in the gold-set format)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
        data[0]["paragraphs"][0]["qas"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise ValueError(f"{path}: not a SQuAD-format JSON file (data / paragraphs / qas)") from None
    docs, gold = [], []
    for a, article in enumerate(data):
        title = article.get("title", "").replace("_", " ")
        for p, para in enumerate(article["paragraphs"]):
            doc_id = f"xq{a:02d}-{p:02d}"
            docs.append({"id": doc_id, "title": title, "text": para["context"]})
            for qa_ in para["qas"]:
                gold.append({"id": qa_["id"], "question": qa_["question"],
                             "answers": sorted({x["text"] for x in qa_["answers"]}),
                             "doc_ids": [doc_id], "kind": None, "answerable": True})
    return docs, gold
