"""Embedding spread over a Ray cluster (QA_RAY_ADDRESS, or `python -m qa index --ray [ADDRESS]`).

Ray actors, one embedding model each (`Settings.ray_workers`, each taking `ray_worker_cpus` CPUs and as many
onnxruntime threads), embed the batches of each checkpoint window; the driver keeps everything else as in a
single-process run: which chunks need a vector, the checkpoints, the index. The window's texts are sorted
and cut into batches exactly as `embed.encode` does, so each batch is the one a single process would
embed and the vectors are the same. Every node needs qa and its model cache path (docs/scale-out.md).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from qa.config import Settings
from qa.models import embed

log = logging.getLogger("qa")


class Embedder:
    """One worker: the model, loaded once, embedding one batch a call."""

    def __init__(self, settings: Settings):
        self.settings, self.model = settings, embed.load_model(settings)

    def encode(self, texts: list[str]) -> np.ndarray:
        return embed.encode(self.model, texts, "passage", self.settings.batch_size)

    def node(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()


@contextmanager
def embedder(settings: Settings) -> Iterator[Callable[[list[str]], np.ndarray]]:
    """A function embedding passages on the cluster at `settings.ray_address`, while the context lasts."""
    try:
        import ray
        from ray.util import ActorPool
    except ImportError:
        raise ValueError("--ray needs Ray: pip install -e '.[ray]'") from None
    _reachable(settings.ray_address)
    try:
        ray.init(address=settings.ray_address, log_to_driver=False, logging_level=logging.WARNING,
                 configure_logging=False, ignore_reinit_error=True)
    except Exception as e:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError: one line for the user
        raise ValueError(f"cannot join the Ray cluster at {settings.ray_address!r}: {_said(e)}") from None
    actors = []
    try:
        cpus = settings.ray_worker_cpus
        n = settings.ray_workers or max(1, int(ray.cluster_resources().get("CPU", cpus) // cpus))
        worker = dataclasses.replace(settings, threads=cpus, ray_address="", api_key="", milvus_token="")
        actors = [ray.remote(num_cpus=cpus)(Embedder).remote(worker) for _ in range(n)]
        try:
            on = set(ray.get([a.node.remote() for a in actors], timeout=settings.ray_start_seconds))  # models loaded
        except ray.exceptions.GetTimeoutError:
            raise ValueError(f"the Ray cluster at {settings.ray_address} did not start {n} workers of {cpus} CPU"
                             f"{'s' * (cpus > 1)} within {settings.ray_start_seconds:g} s: set QA_RAY_WORKERS or "
                             "QA_RAY_WORKER_CPUS to what it has") from None
        pool = ActorPool(actors)
        log.info("embedding on %d Ray workers on %d nodes of %s", n, len(on), settings.ray_address)

        def run(texts: list[str]) -> np.ndarray:
            order = embed.longest_first(texts)  # the batches one process would make
            size = settings.batch_size
            batches = [[texts[i] for i in order[j:j + size]] for j in range(0, len(texts), size)]
            vecs = np.concatenate(list(pool.map(lambda a, b: a.encode.remote(b), batches)))
            out = np.empty_like(vecs)
            out[order] = vecs
            return out

        run.workers, run.nodes = n, len(on)
        yield run
    except ray.exceptions.RayError as e:  # a worker died or raised: its first line, not Ray's traceback
        raise ValueError(f"embedding on the Ray cluster at {settings.ray_address} failed: {_said(e)}") from None
    finally:
        for a in actors:
            ray.kill(a)
        ray.shutdown()


def _said(e: BaseException) -> str:
    lines = [x for x in str(e).splitlines() if x.strip()]
    return lines[-1][:300] if lines else type(e).__name__


def _reachable(address: str) -> None:
    """Refuse at once a HOST:PORT nobody listens on (ray.init would wait for it without end), and for
    "auto" the cluster Ray would pick (RAY_ADDRESS, else the one `ray start` last recorded on this machine)."""
    given = address
    if address == "auto":
        recorded = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        address = os.environ.get("RAY_ADDRESS") or (recorded.read_text().strip() if recorded.is_file() else "")
    host, _, port = address.rpartition(":")
    if not address or "://" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except OSError as e:
        where = given if given == address else f"{given} ({address})"
        raise ValueError(f"cannot join the Ray cluster at {where}: nothing answers there ({e.strerror or e})") from None
