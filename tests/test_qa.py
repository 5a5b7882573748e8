"""The public API and the CLI, on the real seed index."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

import qa

from .conftest import CARD_QUESTION, ROOT


def test_card_question(seed_index):
    ans = seed_index.ask(CARD_QUESTION)
    assert ans.found and ans.text == "3 tỷ đồng" and ans.kind == "money"
    assert ans.citations[0].doc_id == "003_82f23e52a0d4abee"
    assert "Vĩnh Phúc 3 tỷ đồng" in ans.sentence
    doc = seed_index.document(ans.citations[0].doc_id).text
    assert doc[slice(*ans.answer_span)] == "3 tỷ đồng" and doc[slice(*ans.sentence_span)] == ans.sentence


@pytest.mark.parametrize("question", ["ha noi tang vinh phuc bao nhieu tien", "HÀ NỘI TẶNG VĨNH PHÚC BAO NHIÊU TIỀN"])
def test_card_question_without_diacritics_or_in_capitals(seed_index, question):
    ans = seed_index.ask(question)
    assert ans.text == "3 tỷ đồng" and ans.citations[0].doc_id == "003_82f23e52a0d4abee"


def test_the_other_province_is_not_confused(seed_index):
    ans = seed_index.ask("Hà Nội tặng Hà Nam bao nhiêu tiền?")
    assert ans.text == "3 tỷ đồng" and ans.citations[0].doc_id == "001_6bf9596543eff144"


@pytest.mark.parametrize("question", ["Hà Nội tặng Hưng Yên bao nhiêu tiền?", "Hà Nội tặng Hòa Bình bao nhiêu tiền?",
                                      "Chủ tịch UBND tỉnh Hòa Bình là ai?", "Giám đốc Sở Y tế Hà Nội là ai?"])
def test_not_found_instead_of_a_guess(seed_index, question):
    ans = seed_index.ask(question)
    assert not ans.found and ans.text == "" and ans.citations, "closest passages are still given"


@pytest.mark.parametrize("question,expected,doc", [
    ("Bí thư Tỉnh ủy Vĩnh Phúc là ai?", "Hoàng Thị Thúy Lan", "003"),
    ("Bí thư Tỉnh ủy Vĩnh Phúc là ai?".replace("Thúy", "Thuý"), "Hoàng Thị Thúy Lan", "003"),
    ("Bí thư Thành ủy Hà Nội là ai?", "Hoàng Trung Hải", None),
    ("Công an hai tỉnh duy trì mấy cụm liên kết?", "6 cụm liên kết", "003"),
    ("Năm nào Hà Nội ký biên bản ghi nhớ hợp tác du lịch với 5 tỉnh?", "2018", "003"),
    ("Hà Nội ký kết thỏa thuận hợp tác với thành phố nào?", "Hải Phòng", "004"),
    ("Quy mô nền kinh tế Vĩnh Phúc đạt bao nhiêu?", "100.000 tỷ đồng", "003"),
])
def test_typed_questions(seed_index, question, expected, doc):
    ans = seed_index.ask(question)
    assert expected in ans.text, (ans.text, ans.sentence)
    assert doc is None or ans.citations[0].doc_id.startswith(doc)


def test_hits_carry_fused_score_and_both_ranks(seed_index):
    hits = seed_index.search(CARD_QUESTION, k=5)
    assert len(hits) == 5 and [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert any(h.bm25_rank and h.dense_rank for h in hits)
    for h in hits:
        assert seed_index.document(h.doc_id).text[h.start:h.end] == h.text
    assert seed_index.search(CARD_QUESTION, k=3, mode="bm25")[0].dense_rank is None
    assert seed_index.search(CARD_QUESTION, k=3, mode="dense")[0].bm25_rank is None


@pytest.mark.parametrize("question", ["", "   \n\t "])
def test_blank_question_is_a_clear_value_error(seed_index, question):
    with pytest.raises(ValueError, match="empty"):
        seed_index.ask(question)
    with pytest.raises(ValueError, match="empty"):
        seed_index.search(question)


@pytest.mark.parametrize("question", ["🇻🇳🔥 Hà Nội tặng Vĩnh Phúc bao nhiêu tiền? 😀",
                                      "<b>Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?</b>"])
def test_the_card_question_among_emoji_or_markup_is_still_answered(seed_index, question):
    ans = seed_index.ask(question)
    assert ans.text == "3 tỷ đồng" and ans.citations[0].doc_id == "003_82f23e52a0d4abee"


@pytest.mark.parametrize("question", ["Hà Nội " * 1500, "\x00\x07Hà\u200bNội\x1b[31m",
                                      "<script>alert(1)</script><b>Vĩnh Phúc</b>", "What is the capital of France?",
                                      "北京是中国的首都吗", "1234567890"])
def test_odd_questions_are_not_found_and_keep_the_closest_passages_best_first(seed_index, question):
    ans = seed_index.ask(question)
    assert not ans.found and ans.text == "" and ans.sentence == ""
    scores = [h.score for h in ans.citations]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True)
    assert ans.citations == seed_index.search(question, 5)


def test_bad_k_and_mode(seed_index):
    with pytest.raises(ValueError, match="k must"):
        seed_index.search(CARD_QUESTION, k=0)
    with pytest.raises(ValueError, match="mode"):
        seed_index.search(CARD_QUESTION, mode="magic")


def test_module_functions_use_the_default_index():
    assert qa.ask(CARD_QUESTION).text == "3 tỷ đồng"
    assert qa.search(CARD_QUESTION, k=2)[0].doc_id.startswith("00")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "qa", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_cli_ask_search_and_json():
    out = _cli("ask", CARD_QUESTION)
    assert out.returncode == 0 and "3 tỷ đồng" in out.stdout and "[1] 003_82f23e52a0d4abee" in out.stdout
    data = json.loads(_cli("ask", CARD_QUESTION, "--json").stdout)
    assert data["text"] == "3 tỷ đồng" and data["citations"][0]["doc_id"] == "003_82f23e52a0d4abee"
    hits = json.loads(_cli("search", CARD_QUESTION, "-k", "3", "--json").stdout)
    assert len(hits) == 3 and {"doc_id", "title", "start", "end", "score", "bm25_rank", "dense_rank"} <= set(hits[0])


def test_cli_errors_are_one_line_with_exit_2(tmp_path):
    out = _cli("ask", "  ")
    assert out.returncode == 2 and out.stderr.startswith("error: the question is empty") and "Traceback" not in out.stderr
    out = _cli("index", str(tmp_path / "nope"))
    assert out.returncode == 2 and "not a folder" in out.stderr
    for args, message in [(("--jsonl", str(tmp_path / "none.jsonl")), "not a file"), (("--limit", "0"), "at least 1"),
                          (("seeds", "--jsonl", "x.jsonl"), "not both")]:
        out = _cli("index", *args)
        assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_cli_index_a_folder_then_ask_it(tmp_path):
    folder = tmp_path / "bai"
    folder.mkdir()
    (folder / "hp.txt").write_text("Hải Phòng tặng Hà Giang 5 tỷ đồng\nNgày 2/9, thành phố Hải Phòng đã trao tặng "
                                   "tỉnh Hà Giang 5 tỷ đồng để xây trường học.", encoding="utf-8")
    index = tmp_path / "idx"
    out = _cli("--index", str(index), "index", str(folder))
    assert out.returncode == 0 and "indexed 1 documents" in out.stdout
    data = json.loads(_cli("--index", str(index), "ask", "Hải Phòng tặng Hà Giang bao nhiêu tiền?", "--json").stdout)
    assert data["text"] == "5 tỷ đồng" and data["citations"][0]["doc_id"] == "hp"
    (folder / "hp.txt").unlink()  # the source folder's content changes: the index follows it
    (folder / "hg.txt").write_text("Hà Giang có 11 huyện, thành phố.", encoding="utf-8")
    data = json.loads(_cli("--index", str(index), "search", "Hà Giang", "--json").stdout)
    assert [h["doc_id"] for h in data] == ["hg"]
