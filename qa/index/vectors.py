"""The vectors of an index's chunks: reused by content hash where an earlier build or an interrupted run
(its checkpoint) has them, the others embedded here or on a Ray cluster (QA_RAY_ADDRESS)."""
from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np
from tqdm import tqdm

from qa.config import Settings
from qa.index import store
from qa.index.store import KEY_BYTES
from qa.models import embed
from qa.models.cluster import embedder  # Ray is imported only when it is used
from qa.text.split import indexed_text
from qa.types import Chunk


def chunk_key(c: Chunk) -> bytes:
    """The content hash of what a chunk's vector is computed from."""
    return hashlib.sha1(indexed_text(c).encode("utf-8")).digest()[:KEY_BYTES]


def encode_chunks(settings: Settings, chunks: Sequence[Chunk], progress: bool = False,
                  known: dict[bytes, np.ndarray] | None = None, checkpoint: Path | None = None, n_docs: int = 0) -> np.ndarray:
    """Vectors of `chunks`, reusing `known` ones and those a previous, interrupted run left in `checkpoint`;
    the others are embedded longest first (batches of similar lengths pad least). The model is loaded
    only when there is something to embed."""
    known = dict(known or {})
    if checkpoint is not None:
        known.update(store.read_checkpoint(checkpoint, settings))
    keys = [chunk_key(c) for c in chunks]
    todo = sorted({k: i for i, k in enumerate(keys) if k not in known}.values(), key=lambda i: -len(chunks[i].text))
    with ExitStack() as stack:
        remote = None
        if settings.ray_address and todo:
            remote = stack.enter_context(embedder(settings))
        model = None if remote else embed.load_model(settings) if todo or not keys else None
        bar = tqdm(total=len(todo), unit="chunk", disable=not progress or not todo, smoothing=0.1,
                   desc=f"embedding {n_docs:,} documents, {len(chunks):,} chunks ({len(chunks) - len(todo):,} unchanged)"
                   + (f" on {remote.workers} Ray workers" if remote else ""))
        tokens, t0 = 0, time.perf_counter()
        for s in range(0, len(todo), settings.checkpoint_chunks):
            part = todo[s:s + settings.checkpoint_chunks]
            texts = [indexed_text(chunks[i]) for i in part]
            vecs = remote(texts) if remote else embed.encode(model, texts, "passage", settings.batch_size)
            if checkpoint is not None:
                store.write_checkpoint(checkpoint, settings, [keys[i] for i in part], vecs)
            known.update(zip((keys[i] for i in part), vecs))
            if progress:
                bar.update(len(part))
                if model is not None:
                    tokens += embed.count_tokens(model, texts)
                    bar.set_postfix_str(f"{tokens / (time.perf_counter() - t0):,.0f} tokens/s")
        bar.close()
    if not keys:
        return np.zeros((0, embed.dimension(model)), np.float32)
    return np.stack([known[k] for k in keys]).astype(np.float32)
