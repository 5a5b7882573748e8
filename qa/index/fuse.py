"""Reciprocal rank fusion: score(c) = sum over lists of weight / (k + rank of c in that list)."""
from __future__ import annotations


def rrf(rankings: list[list[int]], weights: list[float], k: int = 60) -> list[tuple[int, float, list[int | None]]]:
    """Fuse ranked id lists; returns (id, fused score, 1-based rank in each list or None), best first."""
    scores: dict[int, float] = {}
    ranks: dict[int, list[int | None]] = {}
    for li, (ranking, weight) in enumerate(zip(rankings, weights)):
        for r, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + r)
            ranks.setdefault(item, [None] * len(rankings))[li] = r
    order = sorted(scores, key=lambda i: (-scores[i], min(r for r in ranks[i] if r is not None), i))
    return [(i, scores[i], ranks[i]) for i in order]
