"""The reader's span decoding and offsets, and the shipped reader answering over the seed index."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from qa.answer.read import best_spans, encode_pairs, tokenizer_for
from qa.config import Settings
from qa.models.reader_files import read_meta, weight_files

from .conftest import CARD_QUESTION, ROOT

MAX_ANSWER_TOKENS, TOP = Settings().reader_max_answer_tokens, Settings().reader_top_tokens


@pytest.fixture(scope="module")
def tokenizer(settings):
    from qa.models.convert import ensure_converted

    return tokenizer_for(ensure_converted(settings.cache_dir), 64)


def test_offsets_slice_the_passage_exactly(tokenizer):
    contexts = ["Hà Nội tặng Vĩnh Phúc 3 tỷ đồng (10.900 tỷ đồng đầu tư).", "Thuý Hoà ở TP. Hồ Chí Minh."]
    ids, mask, offsets = encode_pairs(tokenizer, "Ai ở TP. Hồ Chí Minh?", contexts, 64)
    assert ids.shape == mask.shape == offsets.shape[:2]
    for row, text in enumerate(contexts):
        pieces = [text[a:b] for a, b in offsets[row] if a >= 0]
        assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
    assert (offsets[:, 0] == -1).all()  # the first token stands for "no answer", never for text


def test_long_passages_are_cut_not_the_question(tokenizer):
    ids, mask, offsets = encode_pairs(tokenizer, "Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?", ["chữ " * 500], 64)
    assert ids.shape[1] == 64 and (offsets[0, :, 0] >= 0).sum() > 30


def test_best_span_against_no_answer():
    offsets = np.array([[[-1, -1], [-1, -1], [0, 2], [3, 5], [6, 9], [-1, -1]]])
    start = np.array([[1.0, 9.0, 2.0, 5.0, 0.0, 9.0]])  # token 1 and 5 are not passage text
    end = np.array([[1.0, 9.0, 0.0, 1.0, 4.0, 9.0]])
    (span,) = best_spans(start, end, offsets, MAX_ANSWER_TOKENS, TOP)
    assert (span.start, span.end) == (3, 9) and span.margin == pytest.approx(5 + 4 - 2)


def test_an_end_before_its_start_or_too_far_is_no_span():
    n = MAX_ANSWER_TOKENS + 5
    offsets = np.stack([np.arange(n), np.arange(n) + 1], axis=1)[None]
    offsets[0, 0] = -1
    start, end = np.zeros((1, n)), np.zeros((1, n))
    start[0, n - 1], end[0, 1] = 10.0, 10.0  # 20, but the best end is before the best start
    start[0, 2], end[0, 2 + MAX_ANSWER_TOKENS] = 3.0, 9.0  # 12, but one token too long
    start[0, 1] = 1.0  # 11: token 1 alone, the best span allowed
    (span,) = best_spans(start, end, offsets, MAX_ANSWER_TOKENS, TOP)
    assert (span.start, span.end, span.margin) == (1, 2, 11.0)



def test_the_shipped_readers_have_their_cards_and_fit_git(settings):
    for weights in [settings.reader_weights, *(ROOT / "qa" / "models").glob("*.json")]:
        weights = weights.with_suffix(".safetensors")
        meta = read_meta(weights)
        assert all(f.stat().st_size <= 25_000_000 for f in weight_files(weights)), weights
        assert weights.with_suffix(".md").is_file()
        assert meta["layers_trained"] >= 1 and 0 <= meta["steps"] <= meta["planned_steps"]

MAX_ANSWER_TOKENS, TOP = Settings().reader_max_answer_tokens, Settings().reader_top_tokens


@pytest.fixture(scope="module")
def learned(seed_index):
    return dataclasses.replace(seed_index, settings=dataclasses.replace(seed_index.settings, reader="learned"))


def test_card_question_is_answered_by_the_reader(learned):
    ans = learned.ask(CARD_QUESTION)
    assert ans.found and "3 tỷ" in ans.text and ans.citations[0].doc_id == "003_82f23e52a0d4abee"
    assert 0.5 < ans.confidence <= 1.0
    doc = learned.document(ans.citations[0].doc_id).text
    assert doc[slice(*ans.answer_span)] == ans.text and doc[slice(*ans.sentence_span)] == ans.sentence
    assert ans.text == ans.text.strip(" ,.;:")


@pytest.mark.parametrize("question", ["Hà Nội tặng Hòa Bình bao nhiêu tiền?", "Chủ tịch UBND tỉnh Hòa Bình là ai?"])
def test_what_the_seeds_do_not_say_is_not_found(learned, question):
    ans = learned.ask(question)
    assert not ans.found and ans.text == "" and ans.confidence < 0.5


def test_rules_first_then_the_reader(seed_index, learned):
    both = dataclasses.replace(seed_index, settings=dataclasses.replace(seed_index.settings, reader="rules+learned"))
    ans = both.ask(CARD_QUESTION)
    assert ans.found and ans.text == "3 tỷ đồng" and ans.confidence is None  # the rules answered
    assert seed_index.ask(CARD_QUESTION).confidence is None  # the default: rules


def test_the_reader_first_then_the_rules(seed_index):
    first = dataclasses.replace(seed_index, settings=dataclasses.replace(seed_index.settings, reader="learned+rules"))
    ans = first.ask(CARD_QUESTION)
    assert ans.found and "3 tỷ" in ans.text and ans.confidence is not None  # the reader answered
