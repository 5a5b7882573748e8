"""Reading a question: checked and cleaned, its kind, its names, its words for BM25, accents or none."""
from __future__ import annotations

import dataclasses
import unicodedata

import pytest

from qa.index.lexicon import of_texts as entity_lexicon
from qa.text.question import analyse, check_question, classify, question_entities, search_text
from qa.types import Lexicon

CARD = "Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?"


def idf(term: str) -> float:
    """A stand-in idf that tells terms apart (the analysis passes terms through; it never computes them)."""
    return float(len(term))


@pytest.mark.parametrize("question", ["", "   \n\t ", "\u200b\u00ad"])
def test_an_empty_question_is_refused_with_an_example(question):
    with pytest.raises(ValueError, match="the question is empty: type a question"):
        check_question(question, 100)


@pytest.mark.parametrize("question", [None, 42, b"Ha Noi?", ["Hà Nội?"]])
def test_a_question_that_is_not_text_is_refused(question):
    with pytest.raises(ValueError, match="the question must be text"):
        check_question(question, 100)


def test_a_question_is_stripped_and_cut_to_the_limit():
    assert check_question("  Hà Nội tặng gì?  \n", 100) == "Hà Nội tặng gì?"
    assert check_question(CARD, 11) == "Hà Nội tặng"
    assert check_question(CARD, len(CARD)) == CARD


def test_a_decomposed_question_is_cleaned_to_nfc():
    decomposed = unicodedata.normalize("NFD", CARD)
    assert decomposed != CARD
    assert check_question(decomposed, 100) == CARD
    assert check_question("Hà\u200b Nội\u00a0tặng  bao nhiêu?", 100) == "Hà Nội tặng  bao nhiêu?"


def test_question_kinds():
    assert [classify(q) for q in ["Hà Nội tặng bao nhiêu tiền?", "Năm nào?", "Ai là Bí thư?", "Tỉnh nào?",
                                  "Có mấy cụm?", "Doanh nghiệp rót bao nhiêu vốn?"]] == \
        ["money", "date", "person", "place", "count", "money"]


def test_bm25_query_drops_question_words_only():
    assert search_text("Ai đầu tư bao nhiêu tiền vào đâu?") == "đầu tư tiền vào"
    assert search_text("ha noi dau tu bao nhieu") == "ha noi dau tu"  # "dau" may be "đầu": kept


NO_NAMES = Lexicon(frozenset(), frozenset())
NAMES = Lexicon(frozenset({"ha noi", "vinh phuc"}), frozenset())


def test_names_in_questions():
    assert question_entities("Các doanh nghiệp từ Thủ đô rót bao nhiêu vốn vào Hà Nam?", NO_NAMES) == ["ha nam"]
    assert question_entities("Tesla nhận giải Nobel năm nào?", NO_NAMES) == ["nobel"]  # the first word alone is not
    assert question_entities("ha noi tang vinh phuc bao nhieu tien", NAMES) == ["ha noi", "vinh phuc"]
    assert question_entities("Vòng loại U23 châu Á diễn ra ở đâu?", NO_NAMES) == ["u23"]
    cased = "Vụ ô tô làm 7 người chết ở Thường Tín xảy ra khi nào?"  # names are capitalised: Tô Lâm is not meant
    assert question_entities(cased, Lexicon(frozenset({"to lam"}), frozenset())) == ["thuong tin"]


def test_the_lexicon_takes_bigrams_written_capitalised_most_of_the_time():
    """A name's bigram is a name; the same syllables written mostly in lower case are words: the name Gia
    Bảo once does not make every "giá bao nhiêu" name someone."""
    lexicon = entity_lexicon(["Bé Gia Bảo đến Hà Nội.", "Giá bao nhiêu? Giá bao nhiêu thì Hà Nội mua?",
                              "Hỏi giá bao nhiêu.", "Vĩnh Phúc và Hà Nội."])
    assert {"ha noi", "vinh phuc"} <= lexicon.names and "gia bao" not in lexicon.names
    assert question_entities("gia bao nhieu o ha noi", lexicon) == ["ha noi"]


def test_both_tone_mark_spellings_read_as_one_question():
    for old, new in [("Hà Nội giúp Hòa Bình trong lĩnh vực nào?", "Hà Nội giúp Hoà Bình trong lĩnh vực nào?"),
                     ("Bà Hoàng Thị Thúy Lan giữ chức vụ gì?", "Bà Hoàng Thị Thuý Lan giữ chức vụ gì?")]:
        a, b = analyse(old, idf, NO_NAMES), analyse(new, idf, NO_NAMES)
        assert dataclasses.replace(a, text=new) == b, (old, new)
    q = analyse("Hà Nội giúp Hoà Bình trong lĩnh vực nào?", idf, NO_NAMES)
    assert q.entities == ["ha noi", "hoa binh"] and q.head == "linh vuc" and "hoa" not in q.weights
    assert analyse("Bà Hoàng Thị Thuý Lan giữ chức vụ gì?", idf, NO_NAMES).kind == "title"


def test_a_question_typed_without_diacritics_reads_as_the_accented_one():
    bare = analyse("ha noi tang vinh phuc bao nhieu tien", idf, NAMES)
    accented = analyse(CARD, idf, NAMES)
    assert bare.kind == accented.kind == "money"
    assert bare.entities == accented.entities == ["ha noi", "vinh phuc"]
    assert bare.words == accented.words and bare.weights == accented.weights == {"tang": idf("~tang")}
    assert (bare.left, bare.right) == (accented.left, accented.right) == (["ha", "noi", "tang", "vinh", "phuc"],
                                                                          ["tien"])


def test_the_question_word_splits_the_question_and_glue_words_are_dropped():
    q = analyse("Bí thư Tỉnh ủy Vĩnh Phúc là ai?", idf, NO_NAMES)
    assert q.kind == "person" and q.left == ["bi", "thu", "tinh", "uy", "vinh", "phuc"] and q.right == []
    listed = analyse("Những lĩnh vực nào có thể đẩy mạnh hợp tác?", idf, NO_NAMES)
    assert listed.plural and listed.head == "linh vuc" and listed.right == ["the", "day", "manh", "hop", "tac"]
    assert not analyse("Lĩnh vực nào được đẩy mạnh?", idf, NO_NAMES).plural
