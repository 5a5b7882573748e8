"""The check of generated answers, on hand-written ones: right and wrong numbers, amounts, dates and names,
citations of the wrong passage or of none, and every spelling of the same claim."""
from __future__ import annotations

import pytest

from qa.answer.check import check, claims, says_not_found

PASSAGES = [
    "Sáng 12/3/2019, UBND TP. Hà Nội trao 3 tỷ đồng hỗ trợ tỉnh Vĩnh Phúc xây trường học. Dự án có tổng vốn "
    "10.900 tỷ đồng, do ông Nguyễn Văn Hùng phụ trách.",
    "Đà Nẵng hỗ trợ Quảng Nam 5 tỷ đồng khắc phục hậu quả bão số 9. Tỉnh Hòa Bình nhận 2,5 triệu USD.",
]


@pytest.mark.parametrize("text", [
    "Hà Nội tặng Vĩnh Phúc 3 tỷ đồng [1].",
    "ha noi tang vinh phuc 3 ty dong [1].",  # no diacritics
    "HÀ NỘI tặng VĨNH PHÚC 3 tỷ đồng [1].",  # case
    "Tỉnh Hoà Bình nhận 2,5 triệu USD [2].",  # the other tone placement: hoà / hòa
    "Dự án có tổng vốn 10900 tỷ đồng [1].",  # thousands written without the dot
    "Ngày 12/3/2019, Hà Nội trao tiền [1]. Quảng Nam nhận 5 tỷ đồng [2].",
    "Hà Nội trao 3 tỷ đồng [2][1].",  # one of the cited passages holds it
    "Hà Nội trao 3 tỷ đồng.[1]",  # the citation after the full stop
    "Các bài báo cho biết như vậy.",  # nothing to check
    "Người phụ trách là ông Nguyễn Văn Hùng [1].",
    "Ông Nguyễn Văn Hùng phụ trách dự án [1].",
    "Theo UBND TP. Hà Nội, Tại Vĩnh Phúc trường học được xây [1].",  # capitalised clause openers are not names
    "1. Quảng Nam nhận 5 tỷ đồng [2].",  # a list mark is not a number
    "Hà Nội trao 3 tỷ đồng.[1] Số tiền dùng để xây trường học.",  # a sentence ends after the citation too
])
def test_claims_in_a_cited_passage_are_verified(text):
    checked = check(text, PASSAGES)
    assert checked and all(s.verified for s in checked), [(s.text, s.unsupported) for s in checked]


@pytest.mark.parametrize("text, unsupported", [
    ("Hà Nội tặng Vĩnh Phúc 5 tỷ đồng [1].", ["5 ty dong"]),  # a wrong amount
    ("Hà Nội tặng Vĩnh Phúc 3 triệu đồng [1].", ["3 trieu dong"]),  # the right number, the wrong unit
    ("Hà Nội tặng Vĩnh Phúc 3 tỷ đồng [2].", ["3 ty dong", "ha noi", "vinh phuc"]),  # the wrong passage
    ("Hà Nội tặng Vĩnh Phúc 3 tỷ đồng.", ["3 ty dong", "ha noi", "vinh phuc"]),  # no citation at all
    ("Ngày 15/3/2019, Hà Nội trao tiền [1].", ["15/3/2019"]),  # a wrong date
    ("Hà Nội tặng Bắc Ninh 3 tỷ đồng [1].", ["bac ninh"]),  # a wrong name
    ("Ông Trần Văn Hùng phụ trách dự án [1].", ["tran van hung"]),
    ("Hà Nội tặng 3 tỷ đồng [7].", ["[7]", "3 ty dong", "ha noi"]),  # a passage that does not exist
    ("Dự án có tổng vốn 10.901 tỷ đồng [1].", ["10901 ty dong"]),
    ("Hòa Bình nhận 5 triệu USD [2].", ["5 trieu usd"]),  # 5 is not the 5 of 2,5
])
def test_a_claim_no_cited_passage_holds_is_flagged(text, unsupported):
    (s,) = check(text, PASSAGES)
    assert not s.verified and s.unsupported == unsupported


def test_each_sentence_is_judged_on_its_own():
    checked = check("Hà Nội trao 3 tỷ đồng [1]. Quảng Nam nhận 7 tỷ đồng [2].", PASSAGES)
    assert [s.verified for s in checked] == [True, False] and checked[1].citations == [2]
    assert checked[0].text == "Hà Nội trao 3 tỷ đồng [1]."


def test_claims_and_not_found():
    assert claims("Hà Nội tặng Vĩnh Phúc 3 tỷ đồng ngày 12/3.") == ["3 ty dong", "12/3", "ha noi", "vinh phuc"]
    assert claims("Theo bài báo, số tiền rất lớn.") == []
    assert says_not_found("Không tìm thấy.") and says_not_found("khong tim thay thong tin") and not says_not_found("3 tỷ")
    assert not says_not_found("Cảnh sát không tìm thấy nạn nhân [1].")  # the words, not the answer
    assert check("", PASSAGES) == []
