"""Citations name the article, its date, source and link, and the exact span."""
from __future__ import annotations

from qa.cite import citation_line
from qa.types import Hit


def test_a_citation_shows_the_articles_date_source_and_link():
    hit = Hit("a", "Tin Hà Nội", "Hà Nội có 30 quận, huyện.", 10, 35, 1.0, date="2019-03-15", source="Báo Mẫu",
              url="https://bao.example/a")
    assert citation_line(1, hit) == ("[1] a — Tin Hà Nội (2019-03-15, Báo Mẫu) [10:35]\n    https://bao.example/a\n"
                                     "    Hà Nội có 30 quận, huyện.")
    bare = Hit("b", "Tin", "Đoạn văn.", 0, 9, 1.0)
    assert citation_line(2, bare) == "[2] b — Tin [0:9]\n    Đoạn văn."
