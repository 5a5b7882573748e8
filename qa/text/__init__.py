"""Text: Vietnamese normalisation (NFC, tone marks, folding), splitting into chunks and sentences, the shared
patterns (amounts, dates, names) and reading a question."""
