"""Starting a local server for a test or a benchmark: a free port, the process, and waiting until it answers."""
from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str, any_status: bool = True) -> bool:
    """Whether an HTTP server answers at `url`: with any status (one asking for a key is up), or with 2xx."""
    try:
        urllib.request.urlopen(url, timeout=5)
        return True
    except urllib.error.HTTPError:
        return any_status
    except OSError:
        return False


@contextmanager
def running(argv: list[str], ready, seconds: float, what: str, log=subprocess.DEVNULL, **popen) -> Iterator[subprocess.Popen]:
    """`argv` started, waited for until `ready()` (RuntimeError naming `what` when it exits first or takes
    longer than `seconds`), then stopped (terminate, then kill) when the context ends."""
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **popen)
    try:
        deadline = time.monotonic() + seconds
        while not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start (exit {proc.poll()})")
            time.sleep(0.5)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
