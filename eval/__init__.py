"""Evaluation of the qa library against a gold question set (see `python -m eval --help`)."""
