"""Readers: each finds the short answer to a question among the retrieved passages, or says not found.

One is chosen once from `Settings.reader` (`reader_for`): "rules" (qa/answer/rules.py), "learned" (the
fine-tuned reader, qa/answer/read.py), or a chain such as "learned+rules", where the next reader answers when
the one before found nothing. A language model's answer from the citations (qa/answer/generate.py) is a step
after the reader, not a reader. Like txtai's extractive pipelines, readers are interchangeable: each takes
the question as analysed once (`qa.text.question.Question`) and the same candidates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from qa.answer import read, rules
from qa.answer.rules import Candidate
from qa.config import Settings
from qa.text.question import Question
from qa.types import Answer, Lexicon


class Reader(Protocol):
    def answer(self, q: Question, candidates: list[Candidate], lexicon: Lexicon) -> Answer:
        """The answer to `q` from `candidates` (hit, document text, its folded form, sentence spans)."""


@dataclass(frozen=True)
class RulesReader:
    """The sentence that names the question's entities and covers its words, then the typed span in it."""

    min_coverage: float

    def answer(self, q: Question, candidates: list[Candidate], lexicon: Lexicon) -> Answer:
        return rules.answer(q, candidates, lexicon, self.min_coverage)


@dataclass(frozen=True)
class LearnedReader:
    """The fine-tuned reader's best span over a few windows, above its calibrated no-answer threshold."""

    settings: Settings

    def answer(self, q: Question, candidates: list[Candidate], lexicon: Lexicon) -> Answer:
        return read.answer(read.load_reader(self.settings), q, candidates, lexicon, self.settings)


@dataclass(frozen=True)
class Chain:
    """Each reader in turn, until one finds an answer; the last one's "not found" otherwise."""

    readers: tuple[Reader, ...]

    def answer(self, q: Question, candidates: list[Candidate], lexicon: Lexicon) -> Answer:
        for reader in self.readers:
            ans = reader.answer(q, candidates, lexicon)
            if ans.found:
                break
        return ans


KINDS = {"rules": lambda s: RulesReader(s.min_coverage), "learned": LearnedReader}  # a name in QA_READER -> its reader


def reader_for(settings: Settings) -> Reader:
    """The reader `settings.reader` names: one of KINDS, or several joined by "+" (a Chain); Settings accepts
    the combinations in config.READERS."""
    made = [KINDS[name](settings) for name in settings.reader.split("+")]
    return made[0] if len(made) == 1 else Chain(tuple(made))
