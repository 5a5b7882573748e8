"""Property tests (hypothesis) on the text path: normalisation, splitting, and questions of any Unicode."""
from __future__ import annotations

import os
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.intake.corpus import make_document
from qa.text.normalise import canonical, clean, fold, fold_aligned, terms
from qa.text.split import chunk, sentences

VIETNAMESE = "aăâeêioôơuưyđAĂÂEÊIOÔƠUƯYĐbcdghklmnpqrstvx"
TONES = "\u0300\u0301\u0303\u0309\u0323"
# Vietnamese letters, tone marks (also stray ones), digits with dots, spaces, newlines, punctuation, and any other character
text_of_news = st.text(st.one_of(st.sampled_from(VIETNAMESE + TONES + "0123456789.,;:!?…-–\"“” \n\t\u00a0\u200b"),
                                 st.characters(codec=None)), max_size=400)
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=200)  # lone surrogates included
EXAMPLES = settings(max_examples=int(os.environ.get("QA_PROPERTY_EXAMPLES", 300)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@EXAMPLES
@given(text_of_news)
def test_normalisation_is_idempotent(text):
    assert clean(clean(text)) == clean(text)
    assert canonical(canonical(text)) == canonical(text)
    assert fold(fold(text)) == fold(text)


@EXAMPLES
@given(text_of_news)
def test_normal_forms_and_tone_placement_give_the_same_terms(text):
    assert terms(unicodedata.normalize("NFD", text)) == terms(unicodedata.normalize("NFC", text))
    assert terms(canonical(text)) == terms(text)


@EXAMPLES
@given(text_of_news)
def test_the_folded_form_keeps_offsets(text):
    text = clean(text)
    assert len(fold_aligned(text)) == len(text)


@EXAMPLES
@given(text_of_news, st.integers(80, 400), st.integers(0, 39))  # overlap under half a chunk, as configured
def test_chunks_give_back_their_text_and_lose_nothing(text, size, overlap):
    if not clean(text).strip():
        return
    doc = make_document("d", text)
    chunks = chunk(doc, size, overlap)
    covered = [False] * len(doc.text)
    for c in chunks:
        assert doc.text[c.start:c.end] == c.text and 0 < len(c.text) <= size
        covered[c.start:c.end] = [True] * (c.end - c.start)
    lost = "".join(ch for ch, hit in zip(doc.text, covered) if not hit)
    assert not lost.strip(), f"text outside every chunk: {lost!r}"
    for a, b in zip(chunks, chunks[1:]):
        assert a.start < b.start and a.end < b.end, "chunks out of order"
        assert a.end - b.start <= overlap, "neighbours share more than the overlap"
    for a, c in zip(chunks, chunks[2:]):
        assert c.start >= a.end, "text in three chunks"


@EXAMPLES
@given(text_of_news)
def test_sentences_are_ordered_trimmed_and_inside_the_text(text):
    text = clean(text)
    spans = sentences(text)
    for a, b in spans:
        assert 0 <= a < b <= len(text) and text[a:b] == text[a:b].strip()
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(spans, spans[1:]))
    covered = [False] * len(text)
    for a, b in spans:
        covered[a:b] = [True] * (b - a)
    assert not "".join(ch for ch, hit in zip(text, covered) if not hit).strip(), "text outside every sentence"


@EXAMPLES
@given(any_text)
def test_search_and_ask_never_raise_on_any_question(seed_index, question):
    if not clean(question).strip():
        with pytest.raises(ValueError, match="empty"):
            seed_index.ask(question)
        return
    hits = seed_index.search(question, 3)
    assert len(hits) <= 3
    answer = seed_index.ask(question)
    assert answer.found == bool(answer.text) and (answer.citations or not answer.found)
