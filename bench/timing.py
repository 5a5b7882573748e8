"""Latency measurement shared by the bench scripts."""
from __future__ import annotations

import statistics
import time

import numpy as np


def latencies(fn, inputs, repeat: int = 1) -> list[float]:
    """Milliseconds of `fn(x)` for every x of `inputs`, `repeat` times over."""
    out = []
    for _ in range(repeat):
        for x in inputs:
            t = time.perf_counter()
            fn(x)
            out.append((time.perf_counter() - t) * 1000)
    return out


def p50_p95(ms: list[float]) -> tuple[float, float]:
    return statistics.median(ms), float(np.percentile(ms, 95))
