"""Reading articles: a folder of files (bad ones skipped, saying why), records, and .jsonl(.gz) files."""
from __future__ import annotations

import gzip
import hashlib
import json
import logging

import pytest

from qa.intake import corpus
from qa.types import Document

CARD_TEXT = "Hà Nội tặng Vĩnh Phúc 3 tỷ đồng\nNgày 12/5, thành phố Hà Nội đã trao tặng tỉnh Vĩnh Phúc 3 tỷ đồng."
FRONT_MATTER = """---
title: Đà Nẵng khai trương tuyến xe buýt nhanh
date: 2018-04-20
source: Báo Miền Trung Mẫu
category: Giao thông
---
Sáng 20/4, Đà Nẵng khai trương tuyến xe buýt nhanh thứ hai.
"""


@pytest.fixture()
def folder(tmp_path):
    """Good files (text, Markdown with front matter, one in a subfolder, records) beside bad ones."""
    (tmp_path / "a-card.txt").write_text(CARD_TEXT, encoding="utf-8")
    (tmp_path / "b-bus.md").write_text(FRONT_MATTER, encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c-nested.txt").write_text("Cần Thơ, 3/9/2020 – Cần Thơ mở cầu mới.", encoding="utf-8")
    (tmp_path / "d-binary.txt").write_bytes(b"\x89PNG\x00\x00\x00\rIHDR")
    (tmp_path / "e-latin.txt").write_bytes("Hà Nam".encode("cp1258"))
    (tmp_path / "f-empty.md").write_text("  \n\t\n", encoding="utf-8")
    (tmp_path / "g-picture.png").write_bytes(b"\x89PNG")  # not a format the tool reads: not even looked at
    (tmp_path / "records.jsonl.gz").write_bytes(gzip.compress(
        json.dumps({"id": "cms-1", "text": "Long An xây 3 cầu mới.", "category": "Giao thông"}).encode()))
    return tmp_path


def test_a_folder_gives_its_good_files_and_records_in_path_order(folder):
    docs = corpus.read_folder(folder)
    assert [d.id for d in docs] == ["a-card", "b-bus", "c-nested", "cms-1"]  # records after the files
    card, bus, nested, record = docs
    assert card.title == "Hà Nội tặng Vĩnh Phúc 3 tỷ đồng" and card.text == CARD_TEXT
    assert (bus.title, bus.date, bus.source, bus.meta) == ("Đà Nẵng khai trương tuyến xe buýt nhanh", "2018-04-20",
                                                           "Báo Miền Trung Mẫu", {"category": "Giao thông"})
    assert bus.text.startswith("Sáng 20/4") and "---" not in bus.text
    assert nested.date == "2020-09-03"  # from its dateline
    assert record.meta == {"category": "Giao thông"}


def test_bad_files_are_skipped_with_their_reason_and_nothing_is_raised(folder, caplog):
    with caplog.at_level(logging.WARNING, logger="qa"):
        ids = {d.id for d in corpus.read_folder(folder)}
    assert not ids & {"d-binary", "e-latin", "f-empty", "g-picture"}
    for name, why in [("d-binary.txt", corpus.BINARY), ("e-latin.txt", corpus.NOT_UTF8), ("f-empty.md", corpus.EMPTY)]:
        assert f"{name}: {why}" in caplog.text
    assert "g-picture" not in caplog.text


def test_read_files_says_why_each_file_was_not_read(folder):
    paths = sorted(p for p in folder.iterdir() if p.suffix in (".txt", ".md"))
    got = {p.name: (fields is not None, why) for p, fields, why in corpus.read_files(paths, warn=False)}
    assert got == {"a-card.txt": (True, ""), "b-bus.md": (True, ""), "d-binary.txt": (False, corpus.BINARY),
                   "e-latin.txt": (False, corpus.NOT_UTF8), "f-empty.md": (False, corpus.EMPTY)}


def test_a_missing_folder_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        corpus.read_folder(tmp_path / "nothing")


def test_a_title_is_the_first_line_when_it_reads_as_a_headline():
    assert corpus.make_document("x", CARD_TEXT).title == "Hà Nội tặng Vĩnh Phúc 3 tỷ đồng"
    sentence = "Một hai ba bốn năm sáu bảy tám chín mười mười một mười hai mười ba.\nThân bài."
    assert corpus.make_document("x", sentence).title == "Một hai ba bốn năm sáu bảy tám chín mười mười một…"
    assert corpus.make_document("x", CARD_TEXT, title="  Tiêu đề riêng ").title == "Tiêu đề riêng"


def test_a_document_is_cleaned_and_dated_from_its_dateline():
    doc = corpus.make_document("x", "\n\nTP.HCM, ngày 15/3/2019 - Sáng nay\u200b trời mưa.\n")
    assert doc.text == "TP.HCM, ngày 15/3/2019 - Sáng nay trời mưa." and doc.date == "2019-03-15"
    assert corpus.make_document("x", "Sáng nay trời mưa.", date="2020-01-02").date == "2020-01-02"  # the file's wins


def test_records_without_an_id_are_named_by_their_text():
    [doc] = corpus.from_records([{"text": "Hà Nội tặng Vĩnh Phúc 3 tỷ đồng."}])
    assert doc.id == hashlib.sha1("Hà Nội tặng Vĩnh Phúc 3 tỷ đồng.".encode()).hexdigest()[:16]


def test_records_without_text_are_skipped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="qa"):
        docs = corpus.from_records([{"id": "a", "text": "  "}, {"id": "b"}, "not a record", {"id": "c", "text": "Có."}])
    assert [d.id for d in docs] == ["c"]
    assert all(f"skipped record {n}: it has no text" in caplog.text for n in (0, 1, 2))


def test_a_bad_record_date_falls_back_to_the_dateline():
    [doc] = corpus.from_records([{"id": "a", "text": "Huế, 2/3/2019 – Huế mưa lớn.", "date": "2019-02-30"}])
    assert doc.date == "2019-03-02"


def test_documents_given_as_records_are_kept_as_they_are():
    doc = Document("a", "Tin", "Nội dung.", "2019-01-01", "Báo Mẫu", "https://x.example/a", {"k": 1})
    assert corpus.from_records([doc]) == [doc]


def test_records_keep_their_fields_and_the_rest_as_meta():
    [doc] = corpus.from_records([{"id": 7, "title": "Tin", "text": "Nội dung bài.", "date": "1/2/2017",
                                  "source": "Báo Mẫu", "url": "https://x.example/7", "category": "Kinh tế",
                                  "views": 120, "raw": {"nested": True}}])
    assert (doc.id, doc.date, doc.source, doc.url) == ("7", "2017-02-01", "Báo Mẫu", "https://x.example/7")
    assert doc.meta == {"category": "Kinh tế", "views": 120}  # what JSON cannot hold flat is left out


def test_unique_keeps_the_first_of_each_id_and_warns(caplog):
    first, second, other = Document("a", "A", "một"), Document("a", "A2", "hai"), Document("b", "B", "ba")
    with caplog.at_level(logging.WARNING, logger="qa"):
        assert corpus.unique([first, other, second]) == [first, other]
    assert "skipped a second document with id a" in caplog.text


def test_a_repeated_id_in_a_folder_is_read_once(tmp_path):
    (tmp_path / "a.txt").write_text("Bài thứ nhất.", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.md").write_text("Bài thứ hai.", encoding="utf-8")
    assert [d.text for d in corpus.read_folder(tmp_path)] == ["Bài thứ nhất."]


def test_read_jsonl_takes_the_first_records_and_skips_bad_lines(tmp_path, caplog):
    lines = ['{"id": "a", "title": "Tin A", "text": "Hà Nội tặng Vĩnh Phúc 3 tỷ đồng."}', "{not json",
             '{"id": "b", "text": "Vĩnh Phúc thu ngân sách 30.000 tỷ đồng."}', '{"id": "c", "text": ""}']
    path = tmp_path / "news.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines))
    with caplog.at_level(logging.WARNING, "qa"):
        docs = corpus.read_jsonl(path)
    assert [d.id for d in docs] == ["a", "b"] and docs[0].title == "Tin A" and "line 2" in caplog.text
    assert [d.id for d in corpus.read_jsonl(path, limit=1)] == ["a"]
    with pytest.raises(ValueError, match="not a file"):
        corpus.read_jsonl(tmp_path / "none.jsonl")
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + lines[0].encode())
    assert [d.id for d in corpus.read_jsonl(bom)] == ["a"]
    for name, data in [("empty.jsonl", b""), ("junk.jsonl", b"not json\n"), ("torn.jsonl.gz", path.read_bytes()[:40])]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match="no documents|cannot read"):  # never an empty index over a good one
            corpus.read_jsonl(tmp_path / name)
    with pytest.raises(ValueError, match="limit"):
        corpus.read_jsonl(path, limit=0)


def test_a_limit_counts_records_read_not_lines(tmp_path):
    path = tmp_path / "news.jsonl"
    rows = [{"id": f"n{i}", "text": f"Tin số {i}."} for i in range(5)]
    path.write_text("\n\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")  # blank lines between
    assert [d.id for d in corpus.read_jsonl(path, limit=3)] == ["n0", "n1", "n2"]
    assert len(corpus.read_jsonl(path, limit=50)) == 5


def test_an_uploaded_jsonl_gz_gives_its_records():
    data = gzip.compress("\n".join(json.dumps({"id": f"r{i}", "text": "Có."}) for i in range(2)).encode())
    assert [r["id"] for r in corpus.records_in("tin.jsonl.gz", data)] == ["r0", "r1"]
    with pytest.raises(ValueError, match="no records"):
        corpus.records_in("rong.jsonl", b"\n")
    with pytest.raises(ValueError, match="not a readable JSONL"):
        corpus.records_in("hong.jsonl.gz", b"not gzip")
    assert corpus.is_records("A.JSONL.GZ") and corpus.is_records("b.jsonl") and not corpus.is_records("c.json")


def test_a_records_file_named_in_capitals_is_read_as_gzip(tmp_path):
    lines = "\n".join(json.dumps({"id": f"r{i}", "title": f"Tin {i}", "text": f"Nội dung {i}."}) for i in range(2))
    (tmp_path / "TIN.JSONL.GZ").write_bytes(gzip.compress(lines.encode("utf-8")))
    assert [d.id for d in corpus.read_folder(tmp_path)] == ["r0", "r1"]
