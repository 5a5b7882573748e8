"""Intake: documents from files in five formats (formats) and from folders and JSON Lines (corpus)."""
