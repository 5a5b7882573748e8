"""The shared Vietnamese patterns: amounts, dates and places on folded text, names of people and organisations
on the text as written, whole-word search."""
from __future__ import annotations

import re

import pytest

from qa.text.normalise import fold, fold_aligned
from qa.text.patterns import (
    AMOUNT,
    CAP_RUN,
    DATE,
    MONTH_YEAR,
    NAME_RUN,
    NAMED_YEAR,
    NUM,
    NUMERIC_DATE,
    PLACE_WORDS,
    QUARTER_YEAR,
    QUESTION_DAY,
    SURNAMES,
    acronyms,
    contains,
    dmy,
    find,
    named_after,
    organisations,
    people,
    person_like,
)


def matches(pattern: str, text: str) -> list[str]:
    """What `pattern` matches in the folded text, read back from the text as written (same offsets)."""
    return [text[m.start():m.end()] for m in re.finditer(pattern, fold_aligned(text))]


def spans(found: list[tuple[int, int]], text: str) -> list[str]:
    return [text[a:b] for a, b in found]


def test_numbers_keep_their_thousands_and_decimal_separators():
    assert re.findall(NUM, "10.900 tỷ, 2,5 triệu và 1.234.567 người") == ["10.900", "2,5", "1.234.567"]


@pytest.mark.parametrize("text, amount", [
    ("Hà Nội trao tặng tỉnh Vĩnh Phúc 3 tỷ đồng để xây nhà.", "3 tỷ đồng"),
    ("Tổng vốn đầu tư 10.900 tỷ đồng.", "10.900 tỷ đồng"),
    ("Dự án nhận 2,5 triệu USD viện trợ.", "2,5 triệu USD"),
    ("Mỗi suất quà trị giá 500 nghìn.", "500 nghìn"),
    ("Kinh phí 30 Triệu Đồng", "30 Triệu Đồng"),
])
def test_an_amount_is_a_number_with_its_unit_or_currency(text, amount):
    assert matches(AMOUNT, text) == [amount]


def test_a_count_or_a_bare_number_is_no_amount():
    assert matches(AMOUNT, "Có 5 người và 308 điểm, năm 2019.") == []


@pytest.mark.parametrize("text, date", [
    ("Hội nghị diễn ra ngày 15/3/2019 tại Hà Nội.", "ngày 15/3/2019"),
    ("Obama đến thăm Kenya vào tháng 3 năm 2019 cùng phái đoàn.", "tháng 3 năm 2019"),
    ("Vào ngày 15 tháng 3 năm 2019, hai bên ký kết.", "ngày 15 tháng 3 năm 2019"),
    ("Dự án khởi công năm 2017.", "năm 2017"),
    ("Số liệu tháng 3/2019 cho thấy", "tháng 3/2019"),
    ("Kế hoạch giai đoạn 2016-2020 được duyệt.", "giai đoạn 2016-2020"),
    ("Kinh thành xây từ thế kỷ XIX.", "thế kỷ XIX"),
])
def test_a_date_is_read_whole(text, date):
    assert matches(DATE, text) == [date]


def test_numeric_dates_are_day_and_month_with_or_without_a_year():
    assert matches(NUMERIC_DATE, "Ngày 15/3/2019 và 25/12 là hai mốc; 3 người.") == ["15/3/2019", "25/12"]
    assert matches(NUMERIC_DATE, "3.9.2020") == []  # dots: dmy()'s


@pytest.mark.parametrize("text, groups", [
    ("3.9.2020", ("3", "9", "2020")), ("3/9/2020", ("3", "9", "2020")), ("03-09-2020", ("03", "09", "2020")),
    ("ngày 3 . 9 . 2020", ("3", "9", "2020")), ("15\u00a0/ 3/2019", ("15", "3", "2019")),
])
def test_dmy_groups_day_month_and_year(text, groups):
    assert [m.groups() for m in re.finditer(dmy(), fold(text))] == [groups]
    assert re.search(dmy(), fold("3.9 và 2020")) is None
    assert re.search(dmy(r"[ \t]"), "3\n/9/2020") is None  # a dateline's date stays on its line


def test_a_day_a_question_names_is_written_with_slashes_or_dashes():
    found = [m.groups() for m in re.finditer(QUESTION_DAY, fold("ngày 15/3/2019 hay 16-3-2019, không phải 15.3.2019"))]
    assert found == [("15", "3", "2019"), ("16", "3", "2019")]


def test_month_year_gives_the_month_in_one_of_two_groups():
    assert [m.groups() for m in re.finditer(MONTH_YEAR, fold("tháng 3/2019, Tháng 12 năm 2020 và 4/2021"))] == \
        [("3", None, "2019"), ("12", None, "2020"), (None, "4", "2021")]
    assert re.search(MONTH_YEAR, fold("tháng 3 2019")) is None


def test_quarter_year_takes_digits_and_roman_numerals():
    assert [m.groups() for m in re.finditer(QUARTER_YEAR, fold("Quý 2/2019, quý II năm 2019, Quý IV-2020"))] == \
        [("2", "2019"), ("ii", "2019"), ("iv", "2020")]
    assert re.search(QUARTER_YEAR, fold("quý 5/2019")) is None


def test_named_year_is_a_year_of_the_last_two_centuries_after_nam():
    assert [m.group(1) for m in re.finditer(NAMED_YEAR, fold("Năm 1998 và năm 2017, không phải năm 2117"))] == \
        ["1998", "2017"]
    assert re.search(NAMED_YEAR, fold("năm 20177")) is None


def test_place_words_head_a_place_but_not_in_ve_tinh_or_dia_phuong():
    head = rf"\b(?:{PLACE_WORDS})\b"
    assert matches(head, "Đoàn đến tỉnh Vĩnh Phúc, huyện Mê Linh và thị xã Sơn Tây.") == ["tỉnh", "huyện", "thị xã"]
    assert matches(head, "Cán bộ về tỉnh, làm việc với địa phương.") == []


def test_named_after_takes_the_capitalised_name_after_a_place_word():
    text = "Đoàn công tác đến tỉnh Vĩnh Phúc và TP. Hồ Chí Minh, rồi về tỉnh."
    assert spans(named_after(PLACE_WORDS, text, fold_aligned(text)), text) == ["Vĩnh Phúc", "Hồ Chí Minh"]
    assert spans(named_after(PLACE_WORDS, text, fold_aligned(text), keep_head=True), text) == \
        ["tỉnh Vĩnh Phúc", "TP. Hồ Chí Minh"]


def test_capitalised_runs_and_name_runs_with_initials():
    assert CAP_RUN.findall("Hà Nội tặng Vĩnh Phúc 3 tỷ, U23 Việt Nam thắng.") == ["Hà Nội", "Vĩnh Phúc", "U23 Việt Nam"]
    assert CAP_RUN.findall("ông James O. McKinsey") == ["James O", "McKinsey"]
    assert NAME_RUN.findall("ông James O. McKinsey lập công ty") == ["James O. McKinsey"]


def test_surnames_are_folded_and_a_person_is_a_surname_and_two_or_three_more():
    assert {"nguyen", "hoang", "dang", "do"} <= SURNAMES and "Nguyễn" not in SURNAMES
    assert person_like(["hoang", "thi", "thuy", "lan"]) and person_like(["nguyen", "xuan", "dong"])
    assert not person_like(["hoang", "lan"]) and not person_like(["nguyen", "van", "a", "b", "c"])
    assert not person_like(["lady", "gaga", "smith"])


def test_a_person_starts_at_the_vietnamese_surname():
    text = "Phát biểu, Bí thư Tỉnh ủy Vĩnh Phúc Hoàng Thị Thúy Lan khẳng định."
    assert spans(people(text, frozenset()), text) == ["Hoàng Thị Thúy Lan"]


def test_other_names_are_capitalised_runs_but_not_places_nor_lone_vietnamese_words():
    assert spans(people("Ca sĩ Lady Gaga biểu diễn.", frozenset()), "Ca sĩ Lady Gaga biểu diễn.") == ["Lady Gaga"]
    text = "James O. McKinsey lập công ty."
    assert spans(people(text, frozenset()), text) == ["James O. McKinsey"]
    assert people("Theo Đảng, Hà Nội phát triển.", frozenset({"ha noi"})) == []
    assert people("Hà Nội và Vĩnh Phúc ký kết.", frozenset({"ha noi", "vinh phuc"})) == []


@pytest.mark.parametrize("text, org", [
    ("Giám đốc Sở Kế hoạch và Đầu tư Nguyễn Văn An phát biểu.", "Sở Kế hoạch và Đầu tư"),
    ("Ông Hoàng Trung Hải, Ủy viên Bộ Chính trị, Bí thư Thành ủy.", "Bộ Chính trị"),
    ("Bí thư Thành ủy Hà Nội Hoàng Trung Hải khẳng định.", "Thành ủy Hà Nội"),  # the person is no part of it
    ("UBND Vĩnh Phúc cho biết.", "UBND Vĩnh Phúc"),
    ("Theo Ngân hàng Nhà nước, lãi suất giảm.", "Ngân hàng Nhà nước"),
])
def test_an_organisation_is_a_head_word_and_its_name(text, org):
    assert spans(organisations(text, fold_aligned(text)), text) == [org]


def test_a_head_word_in_lower_case_or_alone_is_no_organisation():
    text = "Các sở, ban, ngành của tỉnh tham dự."
    assert organisations(text, fold_aligned(text)) == []


def test_acronyms_with_the_names_after_them():
    text = "UBND tỉnh Vĩnh Phúc, HĐND Hà Nội và tổ chức WHO."
    assert spans(acronyms(text), text) == ["UBND", "HĐND Hà Nội", "WHO"]
    assert acronyms("Ông A đến.") == []


def test_find_and_contains_match_whole_words_only():
    assert find("25 ty va 5 ty", "5") == 9 and find("25 ty", "5") == -1
    assert not contains("so 25", "5") and contains("so 25", "25")
    assert find("hanoi ha noi", "ha") == 6
    assert find("ha noi va ha noi", "ha noi", 1) == 10
    assert not contains("ha noi tang", "no") and contains("ha noi tang", "noi tang")
