"""A server's library over a private copy of the seed index: asking, follow-ups, streaming, adding and removing."""
from __future__ import annotations

import dataclasses
import shutil

import pytest

import qa
from qa.intake.corpus import make_document
from qa.serve.library import Library, NotRemovable

from .conftest import CARD_QUESTION, NEW_ARTICLE, NEW_QUESTION, SEEDS

CARD_DOC = "003_82f23e52a0d4abee"


@pytest.fixture()
def library(seed_index, settings, tmp_path) -> Library:
    """A library over a copy of the seed index (adding must not touch the shared one), without a language model."""
    shutil.copytree(seed_index.path, tmp_path / "index")
    return Library(dataclasses.replace(settings, index_dir=tmp_path / "index", corpus_dir=SEEDS, llm_url=""))


def test_the_card_question_is_answered_from_its_article(library):
    ans = library.ask(CARD_QUESTION, 5, "hybrid")
    assert (ans.question, ans.text, ans.citations[0].doc_id) == (CARD_QUESTION, "3 tỷ đồng", CARD_DOC)
    assert len(ans.citations) == 5


def test_a_follow_up_is_read_as_a_whole_question(library):
    ans = library.ask("còn Hà Nam thì sao?", 5, "hybrid", history=[CARD_QUESTION])
    assert ans.question == "Hà Nội tặng Hà Nam bao nhiêu tiền?"
    assert ans.text == "3 tỷ đồng" and ans.citations[0].doc_id == "001_6bf9596543eff144"  # Hà Nam's article


def test_without_history_a_follow_up_is_asked_as_it_is(library):
    assert library.ask("còn Hà Nam thì sao?", 5, "hybrid").question == "còn Hà Nam thì sao?"


def test_a_stream_gives_the_read_answer_first_and_the_answer_last(library):
    events = list(library.ask_stream("còn Hà Nam thì sao?", 5, "hybrid", history=[CARD_QUESTION]))
    assert [list(e) for e in events] == [["read", "index"], ["answer"]]  # no model: nothing written between
    read, final = events[0]["read"], events[-1]["answer"]
    assert events[0]["index"] is library.index and events[0]["index"].document(read.citations[0].doc_id)
    assert read.question == final.question == "Hà Nội tặng Hà Nam bao nhiêu tiền?"
    assert read.text == final.text == "3 tỷ đồng" and final.generated == ""


@pytest.mark.parametrize("question, mode, filters", [("   ", "hybrid", None), (CARD_QUESTION, "magic", None),
                                                     (CARD_QUESTION, "hybrid", {"since": "hôm qua"})])
def test_a_bad_question_mode_or_filter_raises_before_any_event(library, question, mode, filters):
    with pytest.raises(ValueError):
        library.ask_stream(question, 5, mode, filters)  # raised by the call itself, not by the first next()


def test_search_gives_hits_best_first(library):
    hits = library.search(CARD_QUESTION, 3, "hybrid")
    assert len(hits) == 3 and hits[0].doc_id == CARD_DOC
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_an_added_text_file_is_answered_and_kept_in_the_uploads_folder(library):
    [added] = library.add([("da-nang.txt", NEW_ARTICLE.encode())])
    assert added.status == "added" and added.doc_id.startswith("da-nang_") and added.title.startswith("Đà Nẵng hỗ trợ")
    ans = library.ask(NEW_QUESTION, 5, "hybrid")
    assert ans.text == "5 tỷ đồng" and ans.citations[0].doc_id == added.doc_id
    assert [p.name for p in library.settings.uploads_dir().iterdir()] == [f"{added.doc_id}.txt"]


def test_the_same_text_again_is_a_duplicate(library):
    seed = (SEEDS / f"{CARD_DOC}.txt").read_bytes()
    first = library.add([("da-nang.txt", NEW_ARTICLE.encode())])[0]
    again = library.add([("copy.txt", seed), ("other-name.txt", NEW_ARTICLE.encode())])
    assert [(a.status, a.doc_id) for a in again] == [("duplicate", CARD_DOC), ("duplicate", first.doc_id)]
    assert len(library.index.docs) == 6 and len(list(library.settings.uploads_dir().iterdir())) == 1


def test_records_are_added_or_rejected_each_with_its_reason(library):
    added = library.add_records([{"id": "../etc/passwd", "text": "Có."}, {"id": "trong", "text": " "},
                                 {"id": "hue-1", "text": "Thừa Thiên Huế tặng Quảng Trị 7 tỷ đồng xây trường.",
                                  "source": "Báo Huế", "category": "Giáo dục"}])
    assert [a.status for a in added] == ["rejected", "rejected", "added"]
    assert "letters, digits" in added[0].reason and "non-empty" in added[1].reason
    assert library.sources() == ["Báo Huế"] and library.categories() == ["Giáo dục"]
    assert library.ask("Thừa Thiên Huế tặng Quảng Trị bao nhiêu tiền?", 5, "hybrid").text == "7 tỷ đồng"
    assert (library.settings.uploads_dir() / "hue-1.md").read_text(encoding="utf-8").startswith("---\ntitle:")


def test_an_added_article_can_be_removed(library):
    doc_id = library.add([("da-nang.txt", NEW_ARTICLE.encode())])[0].doc_id
    removed = library.remove(doc_id)
    assert removed.id == doc_id and removed.text == NEW_ARTICLE
    assert doc_id not in {d.id for d in library.index.docs} and len(library.index.docs) == 5
    assert doc_id not in {h.doc_id for h in library.ask(NEW_QUESTION, 5, "hybrid").citations}
    assert not list(library.settings.uploads_dir().iterdir())
    assert doc_id not in {d.id for d in Library(library.settings).index.docs}  # nor back at a restart
    with pytest.raises(KeyError):
        library.remove(doc_id)


def test_an_article_of_the_indexed_folder_is_not_removable(library):
    with pytest.raises(NotRemovable, match="remove its file there"):
        library.remove(CARD_DOC)
    assert library.ask(CARD_QUESTION, 5, "hybrid").citations[0].doc_id == CARD_DOC  # still indexed


def test_an_upload_is_answered_at_once_without_reembedding_and_kept(library):
    before = library.index
    assert library.add([("da-nang.txt", NEW_ARTICLE.encode())])[0].status == "added"
    after = library.index
    assert after.segments[:-1] == before.segments and len(after.segments) == len(before.segments) + 1  # a new segment
    assert all(a is b for a, b in zip(after.segments, before.segments))  # the old ones as they were
    ans = library.ask(NEW_QUESTION, 5, "hybrid")
    assert ans.text == "5 tỷ đồng" and ans.citations[0].doc_id.startswith("da-nang_")
    assert library.ask(CARD_QUESTION, 5, "hybrid").text == "3 tỷ đồng"
    reopened = Library(library.settings)  # a restart loads the saved index with the upload, no rebuild
    assert len(reopened.index.docs) == 6 and reopened.index.manifest["built_at"] == after.manifest["built_at"]


def test_an_upload_builds_on_what_another_process_published_meanwhile(library):
    path = library.index.path
    other = library.index.add([make_document("khac", NEW_ARTICLE.replace("Đà Nẵng", "Huế"))])
    other.save(path)  # e.g. `python -m qa index` finished while the page was running
    assert library.add([("da-nang.txt", NEW_ARTICLE.encode())])[0].status == "added"
    ids = [d.id for d in qa.load(path).docs]
    assert "khac" in ids and any(i.startswith("da-nang_") for i in ids) and len(ids) == 7
