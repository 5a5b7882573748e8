"""Filters apply inside retrieval: only articles that pass come back, k of them whenever k exist, through the
flat index and an HNSW graph alike; bad filters are refused naming the key."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import qa
from qa.index import dense, filters
from qa.intake.corpus import read_folder
from qa.models import embed

from .conftest import ROOT, SEEDS

DATED = {"001": ("2019-03-02", "Báo Hà Nội Mới", "Thời sự"), "002": ("2019-04-10", "Báo Hà Nội Mới", "Kinh tế"),
         "003": ("2019-06-30", "Báo Vĩnh Phúc", "Thời sự"), "004": ("2020-01-05", "VnExpress", "Du lịch")}


@pytest.fixture(scope="module")
def dated(settings):
    """The seeds with dates, sources and categories (the first has none); flat and HNSW indexes of them."""
    docs = []
    for d in read_folder(SEEDS):
        date, source, category = DATED.get(d.id[:3], ("", "", ""))
        docs.append(dataclasses.replace(d, date=date, source=source, meta={"category": category} if category else {}))
    flat = qa.build_index(docs, settings=settings)
    graph = qa.build_index(docs, settings=dataclasses.replace(settings, hnsw_min_chunks=10))
    return flat, graph


def _docs(hits):
    return {h.doc_id[:3] for h in hits}


@pytest.mark.parametrize("which", [0, 1], ids=["flat", "hnsw"])
def test_only_articles_that_pass_come_back_and_k_of_them_when_k_exist(dated, which):
    idx = dated[which]
    q = "Hà Nội hợp tác với các tỉnh"
    spring = idx.search(q, 10, filters={"since": "2019-03-01", "until": "2019-04-30"})
    assert _docs(spring) == {"001", "002"} and len(spring) == 10  # both have more than 10 chunks between them
    assert all("2019-03-01" <= h.date <= "2019-04-30" for h in spring)
    for mode in qa.MODES:
        one = idx.search(q, 5, mode, {"source": "báo vĩnh phúc"})  # any case: "Báo Vĩnh Phúc"
        assert _docs(one) == {"003"} and len(one) == 5, mode
    assert _docs(idx.search(q, 10, filters={"category": ["thời sự", "Du lịch"]})) == {"001", "003", "004"}
    assert _docs(idx.search(q, 10, filters={"since": "2000-01-01"})) == {"001", "002", "003", "004"}  # undated: out
    assert idx.search(q, 5, filters={"since": "2030-01-01"}) == []
    chosen = idx.search(q, 3, filters={"doc_ids": [d.id for d in idx.docs if d.id.startswith("000")]})
    assert _docs(chosen) == {"000"}


def test_a_filtered_graph_search_is_the_exact_search_of_what_passes(dated):
    flat, graph = dated
    allowed = np.zeros(len(graph.chunks), dtype=bool)
    allowed[::7] = True  # 9 of the 63 chunks
    query = embed.encode(graph.model(), ["Vĩnh Phúc"], "query")[0]
    vectors = graph.segments[0].chunk_vectors()
    exact = np.flatnonzero(allowed)[np.argsort(-(vectors[allowed] @ query), kind="stable")][:5].tolist()
    assert dense.top(graph.segments[0].vectors, query, 5, allowed) == exact  # exact below filter_exact_chunks
    assert dense.top(graph.segments[0].vectors, query, 5, allowed, exact_below=0) == exact  # the graph, then exact if short


def test_answers_come_only_from_articles_that_pass(dated):
    flat, _ = dated
    assert flat.ask("Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?").text == "3 tỷ đồng"
    elsewhere = flat.ask("Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?", filters={"source": "VnExpress"})
    assert all(h.source == "VnExpress" for h in elsewhere.citations) and elsewhere.text != "3 tỷ đồng"


@pytest.mark.parametrize("bad, says", [({"from": "2019"}, "unknown filter 'from'"),
                                       ({"since": "hôm qua"}, "filter 'since' must be a date"),
                                       ({"since": "2019-05-01", "until": "2019-04-01"}, "is after"),
                                       ({"source": {"a": 1}}, "filter 'source' must be a name"),
                                       ("2019", "filters must be a dict")])
def test_bad_filters_are_refused_naming_the_key(dated, bad, says):
    with pytest.raises(ValueError, match=says):
        dated[0].search("Hà Nội", 5, filters=bad)


@pytest.mark.parametrize("question, span", [
    ("Giá xăng tháng 4/2019 là bao nhiêu?", ("2019-04-01", "2019-04-30")),
    ("gia xang thang 2 nam 2020", ("2020-02-01", "2020-02-29")),
    ("Ngày 15/3/2019 giá vàng bao nhiêu?", ("2019-03-15", "2019-03-15")),
    ("GDP quý II/2019 tăng bao nhiêu?", ("2019-04-01", "2019-06-30")),
    ("Năm 2017 xuất khẩu bao nhiêu tấn gạo?", ("2017-01-01", "2017-12-31")),
    ("Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?", None),
    ("tháng 13/2019", None), ("ngày 31/2/2019", None), ("Super Bowl 50 diễn ra ở đâu?", None)])
def test_the_period_a_question_names(question, span):
    assert filters.period(question) == span


def test_a_year_reaches_into_the_next_january_a_month_does_not():
    assert filters.dated_window(("2017-01-01", "2017-12-31"), 31) == ("2017-01-01", "2018-01-31")
    assert filters.dated_window(("2019-03-01", "2019-03-31"), 31) == ("2019-03-01", "2019-03-31")


@pytest.fixture(scope="module")
def monthly(settings):
    """The hand-written dated set of eval/ (the same story month after month), indexed."""
    return qa.build_index(read_folder(ROOT / "eval" / "dated"), settings=settings)


def test_a_period_in_the_question_ranks_and_answers_from_its_articles(monthly):
    q = "Tháng 3/2019 giá xăng RON 95 tăng lên bao nhiêu?"
    ans = monthly.ask(q)
    assert ans.citations[0].doc_id == "xang-2019-03" and ans.text == "18.960 đồng"
    assert monthly.search("Năm 2017 Việt Nam xuất khẩu bao nhiêu tấn gạo?", 1)[0].date == "2018-01-06"  # the year's report
    off = dataclasses.replace(monthly, settings=dataclasses.replace(monthly.settings, period_first=0))
    assert [h.doc_id for h in off.search(q, 5)] != [h.doc_id for h in monthly.search(q, 5)]
    chosen = monthly.search(q, 5, filters={"since": "2019-05-01"})  # a date filter overrides the period named
    assert all(h.date >= "2019-05-01" for h in chosen)
