"""A Ray cluster on 127.0.0.1, started and stopped from Python: for trying `index --ray` out, the tests and
the benchmark (docs/scale-out.md).

    with raycluster.local(nodes=2, cpus=1) as address: ...   # then QA_RAY_ADDRESS=address
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from harness.process import free_port


@contextmanager
def local(nodes: int = 2, cpus: int = 1) -> Iterator[str]:
    """A Ray cluster of `nodes` nodes with `cpus` CPUs each on 127.0.0.1, for trying `--ray` out, the tests
    and the benchmark; yields its address. Each node is a `ray start --block` in its own process group,
    stopped by SIGINT (then SIGKILL): other Ray clusters of the machine are left alone."""
    ray = Path(sys.executable).with_name("ray")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    port = free_port()
    temp, address, started = tempfile.mkdtemp(prefix="qa-ray-"), f"127.0.0.1:{port}", []  # short: socket paths

    def start(*args: str) -> None:
        started.append(subprocess.Popen([str(ray), "start", "--block", "--node-ip-address=127.0.0.1", f"--num-cpus={cpus}",
                                         "--object-store-memory=200000000", "--disable-usage-stats", *args], env=env,
                                        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def alive() -> int:
        code = "import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); print(sum(n['Alive'] for n in ray.nodes()))"
        run = subprocess.run([sys.executable, "-c", code, address], env=env, capture_output=True, text=True, timeout=120)
        return int(run.stdout.split()[-1]) if run.returncode == 0 and run.stdout.split() else 0

    try:
        start("--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}")
        deadline = time.monotonic() + 180
        for n in range(1, nodes + 1):
            if n > 1:
                start(f"--address={address}")
            while alive() < n:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the local Ray cluster at {address} did not come up")
                time.sleep(1)
        yield address
    finally:
        for p in reversed(started):
            with suppress(ProcessLookupError):  # a node that died already
                os.killpg(p.pid, signal.SIGINT)
        for p in reversed(started):
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(30)
        shutil.rmtree(temp, ignore_errors=True)
