"""The readers behind one interface: chosen from settings, run on the candidates `Index.ask` gives them."""
from __future__ import annotations

import dataclasses

import pytest

from qa.answer.readers import Chain, LearnedReader, RulesReader, reader_for
from qa.text.question import analyse, check_question

from .conftest import CARD_QUESTION

NEVER = RulesReader(min_coverage=1.01)  # no sentence covers more than all of a question's words: never answers


def read(idx, reader, question: str):
    """`reader`'s answer to `question` from the candidates `Index.ask` would give it (no period in the question)."""
    question = check_question(question, idx.settings.max_question_chars)
    hits = idx.search(question, idx.settings.answer_hits)
    candidates = [(h, idx.document(h.doc_id).text, idx.folded(h.doc_id), idx.sentences_in(h)) for h in hits]
    return reader.answer(analyse(question, idx.idf, idx.lexicon), candidates, idx.lexicon)


def test_rules_is_the_rules_reader_at_the_configured_coverage(settings):
    assert reader_for(dataclasses.replace(settings, reader="rules", min_coverage=0.5)) == RulesReader(0.5)


def test_learned_is_the_learned_reader_with_its_settings(settings):
    s = dataclasses.replace(settings, reader="learned")
    assert reader_for(s) == LearnedReader(s)


@pytest.mark.parametrize("name, kinds", [("rules+learned", [RulesReader, LearnedReader]),
                                         ("learned+rules", [LearnedReader, RulesReader])])
def test_a_chain_holds_its_readers_in_the_order_named(settings, name, kinds):
    chain = reader_for(dataclasses.replace(settings, reader=name))
    assert isinstance(chain, Chain) and [type(r) for r in chain.readers] == kinds
    assert RulesReader(settings.min_coverage) in chain.readers


def test_the_rules_reader_answers_the_card_question(seed_index, settings):
    ans = read(seed_index, RulesReader(settings.min_coverage), CARD_QUESTION)
    assert ans.found and ans.text == "3 tỷ đồng" and ans.kind == "money"
    assert [h.doc_id for h in ans.citations] == ["003_82f23e52a0d4abee"]  # only the passage it read it in
    assert seed_index.document("003_82f23e52a0d4abee").text[slice(*ans.answer_span)] == "3 tỷ đồng"


def test_the_reader_the_index_uses_gives_the_index_its_answer(seed_index):
    assert read(seed_index, seed_index.reader, CARD_QUESTION).text == seed_index.ask(CARD_QUESTION).text == "3 tỷ đồng"


def test_a_chain_answers_with_the_next_reader_when_the_first_finds_nothing(seed_index, settings):
    rules = RulesReader(settings.min_coverage)
    assert not read(seed_index, NEVER, CARD_QUESTION).found
    ans = read(seed_index, Chain((NEVER, rules)), CARD_QUESTION)
    assert ans == read(seed_index, rules, CARD_QUESTION) and ans.text == "3 tỷ đồng"


def test_a_chain_stops_at_the_first_answer(seed_index, settings):
    ans = read(seed_index, Chain((RulesReader(settings.min_coverage), NEVER)), CARD_QUESTION)
    assert ans.found and ans.text == "3 tỷ đồng"


def test_a_chain_of_readers_that_find_nothing_says_not_found(seed_index):
    ans = read(seed_index, Chain((NEVER, NEVER)), CARD_QUESTION)
    assert not ans.found and ans.text == "" and ans.citations == []


@pytest.mark.parametrize("question", ["Hà Nội tặng Hưng Yên bao nhiêu tiền?", "Chủ tịch UBND tỉnh Hòa Bình là ai?"])
def test_a_question_about_something_absent_is_not_found(seed_index, settings, question):
    ans = read(seed_index, RulesReader(settings.min_coverage), question)
    assert not ans.found and ans.text == "" and ans.sentence == ""
