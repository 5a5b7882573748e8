"""The rules reader on single sentences: the typed span a question asks for, and sentences that refer back."""
from __future__ import annotations

import pytest

from qa.answer.rules import extract, refers_back
from qa.index.lexicon import of_texts as entity_lexicon
from qa.text.normalise import fold_aligned
from qa.text.question import analyse


def short(question: str, sentence: str, article: str = "") -> str | None:
    """The short answer in `sentence`, with the lexicon of an article made of `article` and the sentence."""
    lexicon = entity_lexicon([article + "\n" + sentence])
    q = analyse(question, lambda term: 1.0, lexicon)
    span = extract(q, sentence, fold_aligned(sentence), lexicon.places)
    return None if span is None else sentence[span[0]:span[1]].strip(" ,.;:")


@pytest.mark.parametrize("question, sentence, expected", [
    ("Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?", "Thủ đô Hà Nội đã trao tặng tỉnh Vĩnh Phúc 3 tỷ đồng để xây nhà.",
     "3 tỷ đồng"),
    ("Đội thủ Panthers đã thua bao nhiêu điểm?", "Đội thủ của Panthers chỉ thua 308 điểm, đứng thứ sáu.", "308 điểm"),
    ("Ai hát quốc ca?", "Ca sĩ Lady Gaga đã biểu diễn quốc ca, trong khi Marlee Matlin dịch ngôn ngữ ký hiệu.",
     "Lady Gaga"),
    ("Bí thư Tỉnh ủy Vĩnh Phúc là ai?", "Phát biểu, Bí thư Tỉnh ủy Vĩnh Phúc Hoàng Thị Thúy Lan khẳng định.",
     "Hoàng Thị Thúy Lan"),
    ("Chủ tịch UBND tỉnh Hà Nam là ai?", "Về phía tỉnh Hà Nam có: Phạm Sĩ Lợi, Phó Bí thư, Chủ tịch HĐND tỉnh; "
     "Nguyễn Xuân Đông, Phó Bí thư Tỉnh ủy, Chủ tịch UBND tỉnh; các Ủy viên Ban Thường vụ.", "Nguyễn Xuân Đông"),
    ("Ông Hải là Ủy viên của cơ quan nào?", "Ông Hoàng Trung Hải, Ủy viên Bộ Chính trị, Bí thư Thành ủy.",
     "Bộ Chính trị"),
    ("Fort Caroline được đổi tên thành gì?", "Người Tây Ban Nha đổi tên pháo đài thành San Mateo, và sau đó rút đi.",
     "San Mateo"),
    ("Obama đến thăm Kenya khi nào?", "Obama đến thăm Kenya vào tháng 7 năm 2015 cùng phái đoàn.", "tháng 7 năm 2015"),
    ("Hai bên hợp tác trên bao nhiêu nhóm nội dung phát triển kinh tế - xã hội?",
     "Hai bên hợp tác trên 4 nhóm nội dung công tác xây dựng Đảng và 9 nhóm nội dung phát triển kinh tế - xã hội.",
     "9 nhóm nội dung"),
    ("Hai bên hoàn chỉnh quy hoạch tuyến đường vành đai nào?",
     "Hai bên hoàn chỉnh quy hoạch đường Vành đai 5, xác minh các tuyến đường vành đai nằm trên địa bàn tỉnh.",
     "Vành đai 5"),
    ("Đào Đức Toàn giữ chức vụ gì ở Hà Nội?", "Về phía Hà Nội còn có Ủy viên Trung ương Đảng, Chủ tịch UBND thành phố "
     "Nguyễn Đức Chung; Phó Bí thư Thành ủy Đào Đức Toàn; các đồng chí Ủy viên Ban Thường vụ.", "Phó Bí thư Thành ủy"),
    ("Vĩnh Phúc đặt mục tiêu trở thành tỉnh gì?", "Mục tiêu của Vĩnh Phúc là trở thành tỉnh công nghiệp, du lịch và "
     "dịch vụ của vùng, trong đó công nghiệp là nền tảng.", "công nghiệp, du lịch và dịch vụ"),  # a list "A, B và C"
    ("Những lĩnh vực nào có thể đẩy mạnh hợp tác ngay sau hội nghị?", "Những lĩnh vực có thể đẩy mạnh hợp tác ngay "
     "sau hội nghị là văn hóa, thể thao và du lịch.", "văn hóa, thể thao và du lịch"),  # "X là Y": after the echo
    ("Công ty nào được mở rộng nhà máy nước sông Đà?", "Tạo điều kiện để Tổng Công ty Vinaconex mở rộng Nhà máy nước "
     "sạch sông Đà.", "Công ty Vinaconex"),
    ("Hà Nội giúp Hòa Bình huấn luyện vận động viên trong lĩnh vực nào?", "Hà Nội hỗ trợ Hòa Bình trong lĩnh vực đào "
     "tạo; tập huấn vận động viên thành tích cao trong lĩnh vực thể thao.", "lĩnh vực thể thao"),  # which "lĩnh vực"
    ("Lãnh đạo huyện nào tham dự?", "Tham dự có Chủ tịch HĐND tỉnh Trần Văn Vinh và lãnh đạo huyện Mê Linh.",
     "Mê Linh"),  # the place word asked; a person after "tỉnh" is no place
    ("Hòa Bình đề xuất tiếp nhận những cơ sở nào?",
     "Tỉnh đề xuất tiếp nhận các trường học, bệnh viện, nhà máy trong quá trình di dời.",
     "các trường học, bệnh viện, nhà máy trong quá trình di dời"),  # a list: commas do not end it
])
def test_short_answer_sits_where_the_question_word_sits(question, sentence, expected):
    assert short(question, sentence) == expected


def test_a_typed_question_without_a_candidate_has_no_answer():
    assert short("Hà Nội tặng Hưng Yên bao nhiêu tiền?", "Hà Nội và Hưng Yên ký kết hợp tác.") is None


def test_a_person_answer_is_neither_a_place_of_the_corpus_nor_a_lone_word():
    article = "Hội nghị hợp tác giữa thành phố Hà Nội và tỉnh Hưng Yên."
    assert short("Chủ tịch UBND tỉnh Hưng Yên là ai?", "Bí thư Thành ủy Hà Nội cho rằng cần chú trọng hợp tác.",
                 article) is None
    assert short("Ai đọc bản báo cáo?", "Việc hợp tác trong công tác xây dựng Đảng chưa được nhiều.") is None
    assert short("Ai phát biểu?", "Phát biểu, Bí thư Thành ủy Hà Nội Hoàng Trung Hải khẳng định.",
                 article) == "Hoàng Trung Hải"


def test_a_sentence_may_refer_back_to_its_article_subject():
    for sent, refers in [("Công an hai tỉnh, thành phố duy trì 6 cụm.", True), ("Hai bên ký kết.", True),
                         ("Hà Nội tặng tỉnh Vĩnh Phúc 3 tỷ đồng.", False)]:
        assert refers_back(sent, fold_aligned(sent)) == refers, sent


def test_a_question_with_nothing_to_look_for_is_not_answered(seed_index):
    """No name and no content word ("???", "là gì?"): every sentence would qualify, so none may."""
    for question in ("???", "là gì?", "ai?"):
        ans = seed_index.ask(question)
        assert not ans.found and ans.text == "" and ans.citations, question  # the closest passages stay listed
