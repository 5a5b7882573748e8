"""Indexing and retrieval: BM25 and dense vectors over immutable segments (bm25, dense, segment, lexicon),
chunk vectors reused or embedded (vectors), saved as files with a manifest (store) or kept in a Milvus
collection (milvus), searched by a retriever over either (retrieve), fused (fuse) and filtered (filters);
the index that holds them as one (index: `Index`, `build`, `load`) and its sync with a folder (sync)."""
from qa.index.index import MODES, Index, build, load  # noqa: F401 (the old `qa.index` module's names)
