"""The boundary records: a document's stored form and digest, hits and answers as plain JSON."""
from __future__ import annotations

import json

from qa.types import Answer, CheckedSentence, Document, Hit

DOC = Document("vp-1", "Hà Nội tặng Vĩnh Phúc", "Hà Nội tặng tỉnh Vĩnh Phúc 3 tỷ đồng.", date="2019-03-15",
               source="Báo Mẫu", meta={"tags": ["hợp tác"], "author": "PV"})


def test_a_record_keeps_id_title_and_text_and_only_the_fields_a_document_has():
    assert Document("a", "", "").record() == {"id": "a", "title": "", "text": ""}
    assert DOC.record() == {"id": "vp-1", "title": "Hà Nội tặng Vĩnh Phúc", "text": DOC.text, "date": "2019-03-15",
                            "source": "Báo Mẫu", "meta": {"tags": ["hợp tác"], "author": "PV"}}


def test_the_digest_changes_with_anything_the_document_says():
    same = Document(DOC.id, DOC.title, DOC.text, DOC.date, DOC.source, meta={"author": "PV", "tags": ["hợp tác"]})
    assert same.digest() == DOC.digest() and len(DOC.digest()) == 32  # sha256; meta's key order does not count
    changed = [Document(DOC.id, DOC.title, DOC.text + " ", DOC.date, DOC.source, meta=DOC.meta),
               Document(DOC.id, DOC.title, DOC.text, "2019-03-16", DOC.source, meta=DOC.meta),
               Document(DOC.id, "Tin mới", DOC.text, DOC.date, DOC.source, meta=DOC.meta),
               Document(DOC.id, DOC.title, DOC.text, DOC.date, DOC.source, url="https://bao.example/a", meta=DOC.meta),
               Document(DOC.id, DOC.title, DOC.text, DOC.date, DOC.source, meta={"author": "PV"})]
    assert len({d.digest() for d in changed} | {DOC.digest()}) == len(changed) + 1


HIT = Hit("vp-1", "Hà Nội tặng Vĩnh Phúc", "3 tỷ đồng", 27, 36, 0.5, bm25_rank=1, date="2019-03-15")


def test_a_hit_round_trips_through_its_dict():
    assert HIT.to_dict()["dense_rank"] is None and Hit(**HIT.to_dict()) == HIT


def test_an_answer_is_plain_json_with_its_citations_and_checked_sentences():
    answer = Answer("Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?", "3 tỷ đồng", True, "Hà Nội tặng tỉnh Vĩnh Phúc 3 tỷ đồng.",
                    [HIT], "money", (0, 37), (27, 36), generated="3 tỷ đồng [1].",
                    generated_sentences=[CheckedSentence("3 tỷ đồng [1].", [1], True)])
    data = json.loads(json.dumps(answer.to_dict(), ensure_ascii=False))
    assert data["citations"] == [json.loads(json.dumps(HIT.to_dict()))] and data["citations"][0]["start"] == 27
    assert data["answer_span"] == [27, 36] and data["confidence"] is None
    assert data["generated_sentences"] == [{"text": "3 tỷ đồng [1].", "citations": [1], "verified": True,
                                            "unsupported": []}]
