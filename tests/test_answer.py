"""The short-answer rules on single sentences (pure functions: no index, no model)."""
from __future__ import annotations

import pytest

from qa.answer.rules import extract, refers_back
from qa.index.lexicon import of_texts as entity_lexicon
from qa.text.normalise import fold_aligned
from qa.text.question import analyse, classify, question_entities, search_text
from qa.types import Lexicon


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


def test_question_kinds():
    assert [classify(q) for q in ["Hà Nội tặng bao nhiêu tiền?", "Năm nào?", "Ai là Bí thư?", "Tỉnh nào?",
                                  "Có mấy cụm?", "Doanh nghiệp rót bao nhiêu vốn?"]] == \
        ["money", "date", "person", "place", "count", "money"]


def test_bm25_query_drops_question_words_only():
    assert search_text("Ai đầu tư bao nhiêu tiền vào đâu?") == "đầu tư tiền vào"
    assert search_text("ha noi dau tu bao nhieu") == "ha noi dau tu"  # "dau" may be "đầu": kept


NO_NAMES = Lexicon(frozenset(), frozenset())


def test_names_in_questions():
    assert question_entities("Các doanh nghiệp từ Thủ đô rót bao nhiêu vốn vào Hà Nam?", NO_NAMES) == ["ha nam"]
    assert question_entities("Tesla nhận giải Nobel năm nào?", NO_NAMES) == ["nobel"]  # the first word alone is not
    names = Lexicon(frozenset({"ha noi", "vinh phuc"}), frozenset())
    assert question_entities("ha noi tang vinh phuc bao nhieu tien", names) == ["ha noi", "vinh phuc"]
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


def test_a_sentence_may_refer_back_to_its_article_subject():
    for sent, refers in [("Công an hai tỉnh, thành phố duy trì 6 cụm.", True), ("Hai bên ký kết.", True),
                         ("Hà Nội tặng tỉnh Vĩnh Phúc 3 tỷ đồng.", False)]:
        assert refers_back(sent, fold_aligned(sent)) == refers, sent
