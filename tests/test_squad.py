"""SQuAD v1.1 train as reader examples: answers where they say, unanswerable windows without the answer,
held-out articles never trained on, bad files refused in one line."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from qa.config import Settings
from training import squad
from training.train import SQUAD

needs_squad = pytest.mark.skipif(not SQUAD.exists(), reason=f"{SQUAD} is not on this machine")


@pytest.fixture(scope="module")
def articles():
    return squad.read(SQUAD)[:12]


def test_english_sentences_are_cut_at_their_ends_not_at_initials():
    text = 'Burke was born in Dublin. His mother (c. 1702 – 1770) met Mr. Smith in St. Louis, U.S. Then he left! "Why?" he said.'
    cut = [text[a:b] for a, b in squad.sentence_spans(text)]
    # an initial may end a sentence ("U.S. Then"): kept together, a window is a little longer, never wrong
    assert cut == ["Burke was born in Dublin.", "His mother (c. 1702 – 1770) met Mr. Smith in St. Louis, U.S. Then he left!",
                   '"Why?" he said.']


def test_question_kinds():
    assert squad.kind("How many people live in Hanoi?") == "how many"
    assert squad.kind("In what year did the war end?") == "what"
    assert squad.kind("Name the river.") == "other"


@needs_squad
def test_answers_are_where_the_examples_say(articles):
    made = squad.examples(articles, seed=1)
    positive = [e for e in made if e["how"] == "squad"]
    negative = [e for e in made if e["how"] != "squad"]
    assert len(positive) > 1000 and 0.2 < len(negative) / len(made) < 0.4
    for e in positive:
        assert e["context"][e["answer_start"]:e["answer_start"] + len(e["answer"])] == e["answer"]
        assert len(e["context"]) <= Settings.reader_context_chars or len(squad.sentence_spans(e["context"])) == 1
    for e in negative:
        assert e["answer"] == "" and e["answer_start"] == -1
    by_question = {e["doc_id"]: e for e in positive}
    assert all(by_question[e["doc_id"]]["answer"].lower() not in e["context"].lower() for e in negative)
    assert set(Counter(e["how"] for e in negative)) == {"squad-same-paragraph", "squad-other-paragraph"}
    assert made == squad.examples(articles, seed=1)  # deterministic for a seed


@needs_squad
def test_held_out_articles_are_held_out_whole(articles):
    train, dev = squad.split(articles, 3, seed=0)
    assert len(dev) == 3 and len(train) == len(articles) - 3
    assert not {a["title"] for a in train} & {a["title"] for a in dev}
    assert squad.split(list(reversed(articles)), 3, seed=0) == (train, dev)  # by title, not file order


def test_a_file_that_is_not_squad_is_one_clear_error(tmp_path):
    for name, body in (("a.json", "not json"), ("b.json", json.dumps({"data": [{"title": "x"}]})), ("c.json", "[]")):
        (tmp_path / name).write_text(body)
        with pytest.raises(ValueError, match="not a SQuAD-format file"):
            squad.read(tmp_path / name)
    with pytest.raises(ValueError, match="not a SQuAD-format file"):
        squad.read(tmp_path / "missing.json")
