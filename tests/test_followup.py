"""Follow-up questions read against the conversation (the rule; the model's rewrite is in test_generate.py)."""
from __future__ import annotations

import pytest

import qa
from qa.answer.followup import is_followup, rewrite

FIRST = "Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?"


@pytest.mark.parametrize("question, meant", [
    ("còn Hà Nam thì sao?", "Hà Nội tặng Hà Nam bao nhiêu tiền?"),
    ("Còn Hà Nam?", "Hà Nội tặng Hà Nam bao nhiêu tiền?"),
    ("Thế còn Hà Nam?", "Hà Nội tặng Hà Nam bao nhiêu tiền?"),
    ("con Ha Nam thi sao", "Hà Nội tặng Ha Nam bao nhiêu tiền?"),  # typed without diacritics
    ("Hà Nam thì sao?", "Hà Nội tặng Hà Nam bao nhiêu tiền?"),
    ("Bí thư Tỉnh ủy Hưng Yên là ai?", "Bí thư Tỉnh ủy Hưng Yên là ai?"),  # a question of its own
])
def test_a_follow_up_keeps_the_previous_frame(question, meant):
    assert rewrite(question, [FIRST]) == meant


def test_no_history_or_no_name_leaves_the_question():
    assert rewrite("còn Hà Nam thì sao?", []) == "còn Hà Nam thì sao?"
    assert rewrite("còn Hà Nam thì sao?", ["bao nhiêu tiền được tặng?"]) == "còn Hà Nam thì sao?"
    assert not is_followup("Hà Nội và Hòa Bình hợp tác trong những lĩnh vực nào khi còn nhiều khó khăn thì sao?")


def test_the_rewritten_follow_up_is_answered_from_its_article(seed_index):
    ans = seed_index.ask(rewrite("còn Hà Nam thì sao?", [FIRST]))
    assert ans.text == "3 tỷ đồng" and ans.citations[0].doc_id.startswith("001")  # Hà Nội – Hà Nam
    assert isinstance(ans, qa.Answer) and ans.generated == "" and ans.notice == ""


@pytest.mark.parametrize("question", ["Cơn bão Yagi gây thiệt hại bao nhiêu?", "Tình hình lũ ở Yên Bái ra sao?",
                                      "Con số này là bao nhiêu?", "Hà Nội còn bao nhiêu trường học chưa xây?"])
def test_ordinary_questions_are_not_follow_ups(question):
    assert not is_followup(question) and rewrite(question, [FIRST]) == question


def test_a_chain_of_follow_ups_in_the_apis_history():
    assert rewrite("còn Nam Định thì sao?", [FIRST, "còn Hà Nam thì sao?"]) == "Hà Nội tặng Nam Định bao nhiêu tiền?"
