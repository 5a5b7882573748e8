"""Persistence: an index folder of content-addressed files and the manifest that names them.

Every file is written under a temporary name, then renamed `<stem>-<sha12><suffix>`; `manifest.json`,
written last by an atomic rename, names the model, dimension, chunking, corpus hash and each file's size
and sha256. So a reader never sees a half-written index, and a damaged or mismatched file is refused with a
one-line message. One process writes at a time (`writer_lock`); readers need no lock. An indexing run
leaves its finished batches in a checkpoint folder, so an interrupted run resumes.
"""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .config import Settings
from .types import Document

log = logging.getLogger("qa")
FORMAT = 6
KEY_BYTES = 16  # of a chunk's content hash
CHECKPOINT = ".partial"  # inside an index folder: batches embedded by a run that has not finished yet
LOCK = ".lock"  # inside an index folder: held by the one process writing it
NO_INDEX = "no index yet"


class IndexProblem(ValueError):
    """An index that cannot be used (missing, damaged, or built differently); the message is one line."""


def write_checkpoint(folder: Path, settings: Settings, keys: list[bytes], vecs: np.ndarray) -> None:
    """One finished batch of an indexing run, written atomically (a torn file is never read back)."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder, embedder_tag(settings), ".npz", lambda f: f.write(
        npz(keys=np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(-1, KEY_BYTES),  # not "S16": numpy
             vectors=vecs.astype(np.float32))))  # strips a bytes string's trailing zeros


def read_checkpoint(folder: Path, settings: Settings) -> dict[bytes, np.ndarray]:
    """Vectors that a previous run with the same model and backend left behind; a damaged batch is skipped."""
    out: dict[bytes, np.ndarray] = {}
    dims = set()
    for f in sorted(folder.glob(f"{embedder_tag(settings)}-*.npz")) if folder.is_dir() else []:
        try:
            with np.load(f, allow_pickle=False) as z:
                keys, vecs = z["keys"], z["vectors"]
            if vecs.ndim == 2 and keys.shape == (len(vecs), KEY_BYTES) and dims <= {vecs.shape[1]}:
                dims.add(vecs.shape[1])
                out.update(zip(map(bytes, keys), vecs))
        except Exception:  # noqa: BLE001 - whatever is wrong with it, those chunks are embedded again
            log.warning("ignored a damaged checkpoint file %s", f)
    return out


def embedder_tag(settings: Settings) -> str:
    return "emb-" + hashlib.sha1(f"{settings.embed_model}|{settings.embed_backend}".encode()).hexdigest()[:8]


@contextmanager
def writer_lock(path: str | Path) -> Iterator[None]:
    """Hold the index folder's write lock (readers need none: they see the old manifest or the new). The
    kernel releases it when the process ends, however it ends."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        f = open(path / LOCK, "a")
    except OSError:  # a read-only index: nobody writes it, and a build will say why it cannot
        yield
        return
    with f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def stale_reason(manifest: dict | None, docs: list[Document], settings: Settings) -> str | None:
    """Why an index with this manifest does not fit these docs and settings; None when it fits."""
    if manifest is None:
        return NO_INDEX
    if manifest.get("format") != FORMAT:
        return f"it was written in format {manifest.get('format')}, this version reads {FORMAT}"
    checks = [("model", settings.embed_model), ("chunking", settings.chunking()),
              ("bm25", {"k1": settings.bm25_k1, "b": settings.bm25_b}), ("corpus_hash", corpus_hash(docs))]
    if manifest.get("backend", "torch") != settings.embed_backend:
        return "its embedding backend changed"
    for key, want in checks:
        if manifest.get(key) != want:
            return f"its {key.replace('_', ' ')} changed"
    return None


def read_manifest(path: Path) -> dict | None:
    """The manifest of the index at `path`; None when there is none; IndexProblem when it is unreadable."""
    try:
        manifest = json.loads((Path(path) / "manifest.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError):
        raise IndexProblem(f"index manifest {Path(path) / 'manifest.json'} is unreadable: rebuild the index") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise IndexProblem(f"index manifest {Path(path) / 'manifest.json'} is not an index manifest: rebuild the index")
    return manifest


def corpus_hash(docs: list[Document]) -> str:
    """What the documents say, whatever their order (uploads come in upload order, folders sorted by name)."""
    h = hashlib.sha256()
    for d in sorted(docs, key=lambda d: d.id):
        about = {k: v for k, v in document_record(d).items() if k not in ("id", "title", "text")}
        for part in (d.id, d.title, d.text, *([json.dumps(about, sort_keys=True, ensure_ascii=False)] if about else [])):
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
    return h.hexdigest()


def document_record(d: Document) -> dict:
    """A document as stored: id, title and text, and its date, source, url and meta where it has them."""
    return {k: v for k, v in dataclasses.asdict(d).items() if v or k in ("id", "title", "text")}


def write_files(path: Path, files: dict[str, tuple[str, str, Callable]], manifest: dict) -> dict:
    """Write each of `files` (key: (stem, suffix, write(file))), then publish `manifest` naming them, then
    remove the files of earlier builds and the temp files of interrupted ones; the manifest published."""
    written = {key: atomic_write(path, stem, suffix, write) for key, (stem, suffix, write) in files.items()}
    manifest = {**manifest, "format": FORMAT, "files": written}
    publish(path, manifest)
    keep = {f["name"] for f in written.values()} | {"manifest.json", CHECKPOINT, LOCK}
    for old in path.iterdir():
        if old.name not in keep and old.is_file():
            old.unlink(missing_ok=True)
    return manifest


def publish(path: Path, manifest: dict) -> None:
    """Replace the manifest atomically: readers see the old one or the new one, whole."""
    tmp = path / f".manifest.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path / "manifest.json")


def read_docs(folder: Path, meta: dict) -> list[Document]:
    return [Document(**json.loads(line)) for line in verified(folder, meta).decode("utf-8").splitlines() if line]


def npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


class Hashing:
    """A file being written, with the sha256 and size of what went in."""

    def __init__(self, f):
        self.f, self.sha, self.size = f, hashlib.sha256(), 0

    def write(self, data) -> int:
        self.sha.update(data)
        self.size += memoryview(data).nbytes
        return self.f.write(data)


def atomic_write(folder: Path, stem: str, suffix: str, write: Callable) -> dict:
    """`write(file)` into a temp file, renamed `<stem>-<sha12><suffix>` when complete; its manifest entry."""
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            out = Hashing(f)
            write(out)
            f.flush()
            os.fsync(f.fileno())
        digest = out.sha.hexdigest()
        target = folder / f"{stem}-{digest[:12]}{suffix}"
        if target.exists() and target.stat().st_size == out.size:
            os.unlink(tmp)
        else:
            os.chmod(tmp, 0o644)  # readable like any file the user writes (mkstemp makes it private)
            os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {"name": target.name, "size": out.size, "sha256": digest}


def verified(folder: Path, meta: dict) -> bytes:
    """The bytes of an index file, checked against its manifest entry."""
    target = folder / meta["name"]
    try:
        data = target.read_bytes()
    except OSError:
        raise IndexProblem(f"index file {target} is missing: rebuild the index") from None
    compare(target, meta, len(data), hashlib.sha256(data))
    return data


def checked(folder: Path, meta: dict) -> Path:
    """An index file's path once its size and checksum match its manifest entry (read in blocks, not kept)."""
    target = folder / meta["name"]
    sha, size = hashlib.sha256(), 0
    try:
        with open(target, "rb") as f:
            while block := f.read(1 << 22):
                sha.update(block)
                size += len(block)
    except OSError:
        raise IndexProblem(f"index file {target} is missing: rebuild the index") from None
    compare(target, meta, size, sha)
    return target


def compare(target: Path, meta: dict, size: int, sha) -> None:
    if size != meta["size"] or sha.hexdigest() != meta["sha256"]:
        raise IndexProblem(f"index file {target} is damaged (size or checksum differs): rebuild the index")
