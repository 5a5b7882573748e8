"""Persistence: an index folder of segments, each a few content-addressed files, and the manifest that
names them.

Every file is written under a temporary name, then renamed `<segment>-<stem>-<sha12><suffix>`;
`manifest.json`, written last by an atomic rename, names the model, dimension, chunking and, for each
segment, its files' sizes and sha256 and its tombstone (which of its documents are deleted). A segment's
files never change, so saving an index writes only its new segments and changed tombstones. A reader never
sees a half-written index, and a damaged or mismatched file is refused with a one-line message. One process
writes at a time (`writer_lock`); readers need no lock. An indexing run leaves its finished batches in a
checkpoint folder, so an interrupted run resumes.
"""
from __future__ import annotations

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

import faiss
import numpy as np

from qa.config import Settings
from qa.index.bm25 import Postings
from qa.index.lexicon import LexCounts
from qa.index.segment import Segment
from qa.text.split import ChunkTable
from qa.types import Document

log = logging.getLogger("qa")
FORMAT = 7
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
def writer_lock(path: str | Path, wait: bool = True) -> Iterator[bool]:
    """Hold the index folder's write lock (readers need none: they see the old manifest or the new). The
    kernel releases it when the process ends, however it ends. With `wait=False`, yields False at once
    when another writer holds it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        f = open(path / LOCK, "a")
    except OSError:  # a read-only index: nobody writes it, and a build will say why it cannot
        yield True
        return
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True


def stale_reason(manifest: dict | None, settings: Settings, docs: list[Document] | None = None) -> str | None:
    """Why an index with this manifest must be built again for these settings (and, given `docs`, why it
    does not hold exactly them: a sync would bring it in step); None when it fits."""
    if manifest is None:
        return NO_INDEX
    if manifest.get("format") != FORMAT:
        return f"it was written in format {manifest.get('format')}, this version reads {FORMAT}"
    checks = [("model", settings.embed_model), ("chunking", settings.chunking())]
    if docs is not None:
        checks.append(("corpus_hash", corpus_hash([d.digest() for d in docs])))
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
    if not isinstance(manifest, dict) or not isinstance(manifest.get("segments", manifest.get("files")), (list, dict)):
        raise IndexProblem(f"index manifest {Path(path) / 'manifest.json'} is not an index manifest: rebuild the index")
    return manifest


def corpus_hash(digests: list[bytes]) -> str:
    """What the documents say (their `Document.digest`s), whatever their order (uploads come in upload
    order, folders sorted by name)."""
    return hashlib.sha256(b"".join(sorted(digests))).hexdigest()


def save(path: Path, segments: list[Segment], manifest: dict) -> dict:
    """Write what of `segments` is not on disk yet (new segments' files, changed tombstones), then publish
    `manifest` naming them all, then remove the files no segment names any more and the temp files of
    interrupted runs; the manifest published."""
    entries = []
    for seg in segments:
        if not _on_disk(path, seg.files):
            seg.files = {key: atomic_write(path, f"{seg.name}-{stem}", suffix, write)
                         for key, (stem, suffix, write) in _segment_files(seg).items()}
        if seg.deleted.any() and not _on_disk(path, {"deleted": seg.tombstone}):
            seg.tombstone = atomic_write(path, f"{seg.name}-deleted", ".npy", lambda f, d=seg.deleted: np.save(f, d))
        entries.append({"name": seg.name, "documents": len(seg.docs), "deleted": int(seg.deleted.sum()),
                        "chunks": len(seg.chunks), "files": seg.files,
                        "tombstone": seg.tombstone if seg.deleted.any() else None})
    manifest = {**manifest, "format": FORMAT, "segments": entries}
    publish(path, manifest)
    keep = named_files(manifest) | {"manifest.json", CHECKPOINT, LOCK}
    for old in path.iterdir():
        if old.name not in keep and old.is_file():
            old.unlink(missing_ok=True)
    return manifest


def named_files(manifest: dict) -> set[str]:
    """The names of every file a manifest names (segment files and tombstones)."""
    return {f["name"] for e in manifest["segments"] for f in [*e["files"].values(), e["tombstone"]] if f}


def read_segment(path: Path, entry: dict) -> Segment:
    """A segment of the index at `path` from its manifest entry, every file checked; the large arrays are
    memory-mapped."""
    files = entry.get("files") or {}
    if set(files) != SEGMENT_FILES:
        raise IndexProblem(f"index manifest {path / 'manifest.json'} does not list this format's files: rebuild the index")
    try:
        docs = read_docs(path, files["docs"])
        ch = np.load(io.BytesIO(verified(path, files["chunks"])), allow_pickle=False)
        lex = np.load(io.BytesIO(verified(path, files["lexicon"])), allow_pickle=False)
        postings = Postings(*(np.asarray(np.load(checked(path, files[f"bm25_{a}"]), mmap_mode="r", allow_pickle=False))
                              for a in Postings.ARRAYS))  # plain arrays over the map: np.memmap slices slowly
        vectors = faiss.read_index(str(checked(path, files["vectors"])), faiss.IO_FLAG_MMAP_IFC)
        deleted = read_tombstone(path, entry, len(docs))
        seg = Segment(entry["name"], docs, ChunkTable(docs, ch["doc"], ch["start"], ch["end"]), ch["sentences"],
                      ch["sentence_bounds"], postings, vectors, LexCounts(*(lex[a] for a in LexCounts.ARRAYS)),
                      ch["digests"], deleted, files, entry.get("tombstone"))
    except IndexProblem:
        raise
    except FileNotFoundError:
        raise IndexProblem(f"a file of the index at {path} is missing: rebuild it") from None
    except Exception as e:  # the checksums matched, so this is a foreign or older writer
        raise IndexProblem(f"index at {path} cannot be read ({type(e).__name__}): rebuild it") from None
    p = postings
    if (not vectors.ntotal == len(seg.chunks) == p.n_chunks or len(p.indptr) != len(p.terms) + 1
            or not len(seg.sentence_bounds) == len(docs) + 1 == len(seg.digests) + 1
            or not len(p.rows) == len(p.counts) == p.indptr[-1]):
        raise IndexProblem(f"index at {path} is inconsistent (its files disagree on counts): rebuild it")
    return seg


def read_tombstone(path: Path, entry: dict, n_docs: int) -> np.ndarray:
    """Which of a segment's documents are deleted, from its tombstone file (none when it has none)."""
    tomb = entry.get("tombstone")
    deleted = np.load(io.BytesIO(verified(path, tomb)), allow_pickle=False).astype(bool) if tomb else np.zeros(n_docs, bool)
    if deleted.shape != (n_docs,):
        raise IndexProblem(f"index at {path} is inconsistent (a tombstone disagrees with its segment): rebuild it")
    return deleted


SEGMENT_FILES = {"docs", "chunks", "lexicon", "vectors", *(f"bm25_{a}" for a in Postings.ARRAYS)}


def _segment_files(seg: Segment) -> dict[str, tuple[str, str, Callable]]:
    def docs(f):
        for d in seg.docs:
            f.write(json.dumps(d.record(), ensure_ascii=False).encode() + b"\n")

    c = seg.chunks
    return {
        "docs": ("docs", ".jsonl", docs),
        "chunks": ("chunks", ".npz", lambda f: f.write(npz(
            doc=c.doc, start=c.start, end=c.end, sentences=seg.sentences, sentence_bounds=seg.sentence_bounds,
            digests=seg.digests))),
        **{f"bm25_{a}": (f"bm25-{a}", ".npy", lambda f, x=getattr(seg.postings, a): np.save(f, x)) for a in Postings.ARRAYS},
        "lexicon": ("lexicon", ".npz", lambda f: f.write(npz(**{a: getattr(seg.lex, a) for a in LexCounts.ARRAYS}))),
        "vectors": ("vectors", ".faiss", lambda f: f.write(faiss.serialize_index(seg.vectors))),
    }


def _on_disk(path: Path, files: dict | None) -> bool:
    """Whether the files of these manifest entries are there (another writer may have removed them)."""
    try:
        return bool(files) and all(f and (path / f["name"]).stat().st_size == f["size"] for f in files.values())
    except OSError:
        return False


def publish(path: Path, manifest: dict) -> None:
    """Replace the manifest atomically: readers see the old one or the new one, whole."""
    replace_atomic(path / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))


def replace_atomic(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all: a temp file beside it, on disk, then renamed over it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # readable like any file the user writes (mkstemp makes it private)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
