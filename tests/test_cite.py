"""Citations name the article, its date, source and link, and the exact span."""
from __future__ import annotations

from qa.answer.cite import citation_line, format_answer
from qa.types import Answer, CheckedSentence, Hit


def test_a_citation_shows_the_articles_date_source_and_link():
    hit = Hit("a", "Tin Hà Nội", "Hà Nội có 30 quận, huyện.", 10, 35, 1.0, date="2019-03-15", source="Báo Mẫu",
              url="https://bao.example/a")
    assert citation_line(1, hit) == ("[1] a — Tin Hà Nội (2019-03-15, Báo Mẫu) [10:35]\n    https://bao.example/a\n"
                                     "    Hà Nội có 30 quận, huyện.")
    bare = Hit("b", "Tin", "Đoạn văn.", 0, 9, 1.0)
    assert citation_line(2, bare) == "[2] b — Tin [0:9]\n    Đoạn văn."


def _generated() -> Answer:
    hit = Hit("a", "Tin Hà Nội", "Hà Nội tặng Vĩnh Phúc 3 tỷ đồng.", 0, 32, 1.0)
    ans = Answer("q", "3 tỷ đồng", True, "Hà Nội tặng Vĩnh Phúc 3 tỷ đồng.", [hit], generated="Hà Nội tặng 3 tỷ đồng [1]. "
                 "Số tiền là 5 tỷ [1].", generated_sentences=[CheckedSentence("Hà Nội tặng 3 tỷ đồng [1].", [1], True),
                                                                 CheckedSentence("Số tiền là 5 tỷ [1].", [1], False, ["5 ty"])],
                 notice="Câu trả lời của mô hình bị cắt ở 256 token; xem câu trả lời trích dẫn.")
    return ans


def test_a_generated_answer_is_printed_under_the_extractive_one_each_unverified_sentence_marked():
    text = format_answer(_generated())
    assert text.startswith("3 tỷ đồng [1]") and "Mô hình viết (có ý chưa kiểm chứng được):" in text
    assert "  Hà Nội tặng 3 tỷ đồng [1]." in text and "⚠ Số tiền là 5 tỷ [1]. (không thấy trong nguồn: 5 ty)" in text
    assert text.endswith("(Câu trả lời của mô hình bị cắt ở 256 token; xem câu trả lời trích dẫn.)")


def test_the_page_gets_the_same_answer_in_markdown_with_document_text_escaped():
    text = format_answer(_generated(), markdown=True)
    assert text.startswith("**3 tỷ đồng** [1]\n\n> Hà Nội tặng Vĩnh Phúc 3 tỷ đồng\\.\n\nNguồn: [1] Tin Hà Nội (a)")
    assert "**Mô hình viết** (có ý chưa kiểm chứng được với nguồn):" in text
    assert "⚠ Số tiền là 5 tỷ \\[1\\]\\. *(không thấy trong nguồn được dẫn: 5 ty)*" in text
    assert text.endswith("*Câu trả lời của mô hình bị cắt ở 256 token; xem câu trả lời trích dẫn\\.*")
    writing = format_answer(_generated(), markdown=True, writing="Hà Nội *tặng*")
    assert writing.endswith("---\n**Mô hình đang viết…**\n\nHà Nội \\*tặng\\*") and "Mô hình viết" not in writing
