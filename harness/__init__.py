"""Servers that tests, benchmarks and people trying the tool start locally: a llama.cpp server with a small
model (llmserver) and a Ray cluster on 127.0.0.1 (raycluster)."""
