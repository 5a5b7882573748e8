"""Serving: the library that holds the current index for the page, the CLI and the JSON API, and doctor."""
