"""Answering: the readers that find a short answer in retrieved passages (rules, read; chosen in readers),
the LLM's answer and its claim checks (generate, check), follow-up questions (followup) and citations (cite)."""
