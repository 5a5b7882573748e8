"""Indexing and retrieval: BM25 and dense vectors over immutable segments (bm25, dense, segment, lexicon),
saved as files with a manifest (store) or pushed to Milvus (milvus), fused (fuse), filtered (filters), the
index that holds them as one (index: `Index`, `build`, `load`) and its sync with a folder (sync)."""
