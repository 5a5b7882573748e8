"""Retrievers, chosen by Settings.store: the local one fuses both sides over the allowed chunks as Index.search does."""
from __future__ import annotations

import dataclasses

import numpy as np

from qa.index import filters, milvus, retrieve
from qa.index.retrieve import LocalRetriever, MilvusRetriever, query_weights, request, retriever_for, weights
from qa.models import embed
from qa.text.normalise import terms
from qa.text.question import search_text

from .conftest import CARD_QUESTION


def _query(idx, question: str) -> dict:
    """Both sides of a question, as Index.search makes them."""
    return {"bm25": terms(search_text(question)), "dense": embed.encode(idx.model(), [question], "query")[0]}


def test_retriever_for_picks_local_arrays_or_milvus_without_connecting(seed_index, settings, tmp_path):
    assert type(seed_index.retriever) is LocalRetriever and retriever_for(seed_index).idx is seed_index
    for store in [f"milvus:{tmp_path / 'qa.db'}", "http://127.0.0.1:1"]:
        idx = dataclasses.replace(seed_index, settings=dataclasses.replace(settings, store=store))
        assert type(idx.retriever) is MilvusRetriever and type(retriever_for(idx)) is MilvusRetriever
        assert idx.retriever.name is None  # nothing asked of Milvus yet
    assert not (tmp_path / "qa.db").exists()


def test_the_local_retriever_returns_what_index_search_ranks(seed_index, settings):
    fused = seed_index.retriever.retrieve(_query(seed_index, CARD_QUESTION), settings.pool, None)
    hits = seed_index.search(CARD_QUESTION, 10)
    assert [(seed_index.chunks[i].doc_id, seed_index.chunks[i].start) for i, _, _ in fused[:10]] == [
        (h.doc_id, h.start) for h in hits]
    assert [(round(score, 6), ranks[0], ranks[1]) for _, score, ranks in fused[:10]] == [
        (h.score, h.bm25_rank, h.dense_rank) for h in hits]
    scores = [score for _, score, _ in fused]
    assert scores == sorted(scores, reverse=True) and len({i for i, _, _ in fused}) == len(fused)
    assert len(fused) <= 2 * settings.pool  # each side's pool at most
    best_bm25 = seed_index.bm25.top(terms(search_text(CARD_QUESTION)), 1)[0]
    assert next(r for i, _, r in fused if i == best_bm25)[0] == 1


def test_one_side_alone_is_that_sides_ranking(seed_index, settings):
    words = terms(search_text(CARD_QUESTION))
    fused = seed_index.retriever.retrieve({"bm25": words}, 20, None)
    assert [i for i, _, _ in fused] == seed_index.bm25.top(words, 20)
    assert all(ranks == [n] for n, (_, _, ranks) in enumerate(fused, start=1))


def test_an_allowed_filter_keeps_its_chunks_and_one_that_passes_nothing_returns_nothing(seed_index, settings):
    query = _query(seed_index, CARD_QUESTION)
    doc = seed_index.docs[2].id
    fused = seed_index.retriever.retrieve(query, settings.pool, filters.parse({"doc_ids": [doc]}))
    assert fused and {seed_index.chunks[i].doc_id for i, _, _ in fused} == {doc}
    assert len(fused) == int((seed_index.chunks.doc == 2).sum())
    assert seed_index.retriever.retrieve(query, settings.pool, filters.parse({"doc_ids": ["no-such-article"]})) == []
    assert seed_index.retriever.retrieve(query, settings.pool, filters.parse({"since": "2090-01-01"})) == []


def test_deleted_chunks_are_never_retrieved(seed_index, settings):
    gone = seed_index.docs[0].id
    idx = seed_index.add([], remove=[gone])
    fused = idx.retriever.retrieve(_query(idx, CARD_QUESTION), settings.pool, None)
    assert fused and all(idx.chunks[i].doc_id != gone for i, _, _ in fused)


def test_weights_follow_the_settings_in_the_querys_order(settings):
    s = dataclasses.replace(settings, bm25_weight=2.0, dense_weight=0.5)
    assert weights({"bm25": [], "dense": None}, s) == [2.0, 0.5]
    assert weights({"dense": None, "bm25": []}, s) == [0.5, 2.0]
    assert weights({"dense": None}, settings) == [settings.dense_weight]


def test_query_weights_are_bm25s_keyed_into_milvuss_term_space(seed_index):
    words = terms(search_text(CARD_QUESTION)) + ["từkhôngcó"]
    out = query_weights(seed_index.bm25, words)
    hashes, w = seed_index.bm25.query_weights(words)
    assert out and all(isinstance(k, int) and 0 <= k < milvus.TERM_SPACE for k in out)
    assert set(out) == set((hashes % milvus.TERM_SPACE).tolist()) and len(out) < len(set(words))
    assert np.isclose(sum(out.values()), float(w.sum())) and all(x > 0 for x in out.values())
    twice = query_weights(seed_index.bm25, words + words[:1])
    assert sum(twice.values()) > sum(out.values())  # a word asked twice counts more
    assert query_weights(seed_index.bm25, []) == {}


def test_filters_are_written_as_milvus_expressions():
    assert retrieve.expression(filters.parse({"source": 'a"b'})) == 'source in ["a\\"b"]'
    assert retrieve.expression(None) == ""
    assert retrieve.expression(filters.parse({"since": "2019-03-01", "until": "2019-04-30"})) == (
        'date != "" and date >= "2019-03-01" and date <= "2019-04-30"')
    named = filters.parse({"source": "Báo Vĩnh Phúc", "category": ["Thời sự"], "doc_ids": ["a", "b"]})
    assert retrieve.expression(named) == (
        'source in ["báo vĩnh phúc"] and category in ["thời sự"] and doc_id in ["a", "b"]')


def test_request_names_the_field_and_search_parameters_of_a_side(settings, tmp_path):
    lite = dataclasses.replace(settings, store=f"milvus:{tmp_path / 'qa.db'}")
    server = dataclasses.replace(settings, store="http://127.0.0.1:1")
    assert request(lite, "bm25", 5) == request(server, "bm25", 5) == ("sparse", {"metric_type": "IP"})
    assert request(lite, "dense", 5) == ("dense", {"metric_type": "IP"})
    assert request(server, "dense", 5) == ("dense", {"metric_type": "IP", "params": {"ef": settings.hnsw_ef_search}})
    assert request(server, "dense", 10_000)[1]["params"] == {"ef": 10_000}


def test_milvus_keys_map_back_to_live_chunk_positions(seed_index):
    keys = seed_index.segments[0].keys
    assert MilvusRetriever(seed_index).position(int(keys[7])) == 7
    assert MilvusRetriever(seed_index).position(int(keys.max()) + 1) is None
    gone = seed_index.docs[0].id
    idx = seed_index.add([], remove=[gone])
    r = MilvusRetriever(idx)
    dead = [i for i in range(len(idx.chunks)) if idx.chunks[i].doc_id == gone]
    assert dead and all(r.position(int(keys[i])) is None for i in dead)
    assert all(r.position(int(keys[i])) == i for i in range(len(idx.chunks)) if i not in dead)
