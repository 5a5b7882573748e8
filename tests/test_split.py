from qa.intake.corpus import make_document
from qa.text.split import chunk, sentences


def _texts(text):
    return [text[a:b] for a, b in sentences(text)]


def test_sentences_keep_numbers_and_abbreviations_whole():
    text = ("Vĩnh Phúc đạt trên 100.000 tỷ đồng. Thu 10.900 tỷ. TP. Hà Nội và UBND TP. Hải Phòng ký kết. "
            "Ông Nguyễn V. An phát biểu: “Rất tốt.” Sau đó thì sao? Hết\nDòng mới")
    assert _texts(text) == ["Vĩnh Phúc đạt trên 100.000 tỷ đồng.", "Thu 10.900 tỷ.",
                            "TP. Hà Nội và UBND TP. Hải Phòng ký kết.", "Ông Nguyễn V. An phát biểu: “Rất tốt.”",
                            "Sau đó thì sao?", "Hết", "Dòng mới"]


def test_chunk_offsets_give_back_the_text(seed_index):
    for c in seed_index.chunks:
        assert seed_index.document(c.doc_id).text[c.start:c.end] == c.text


def test_chunks_cover_the_document_and_overlap():
    text = " ".join(f"Câu số {i} nói về Hà Nội và Vĩnh Phúc với 10.900 tỷ đồng." for i in range(60))
    doc = make_document("d", text)
    chunks = chunk(doc, 300, 80)
    assert len(chunks) > 5
    assert chunks[0].start == 0 and chunks[-1].end == len(doc.text)
    for a, b in zip(chunks, chunks[1:]):
        assert b.start <= a.end, "a gap between chunks"
        assert b.start > a.start
    assert any(b.start < a.end for a, b in zip(chunks, chunks[1:])), "no overlap"
    assert all(len(c.text) <= 300 for c in chunks)


def test_chunks_end_on_sentence_boundaries_where_possible():
    text = " ".join(f"Câu số {i} nói về hợp tác giữa hai địa phương." for i in range(40))
    for c in chunk(make_document("d", text), 250, 50):
        assert c.text.endswith("."), c.text[-30:]
