"""Training questions generated from real articles: well-formed, deterministic, every kind, no answer leaks."""
from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from eval.metrics import contains
from qa.intake import corpus
from qa.text.normalise import fold
from training.questions import KINDS, generate, make_question, stats
from training.train import ARCHIVE, EVAL_ARTICLES, examples_for

from .conftest import SEEDS

needs_archive = pytest.mark.skipif(not ARCHIVE.exists(), reason=f"{ARCHIVE} is not on this machine")


@pytest.fixture(scope="module")
def training_docs():
    """Articles after the held-out first EVAL_ARTICLES: the only ones questions may be made from."""
    return corpus.read_jsonl(ARCHIVE, EVAL_ARTICLES + 150)[EVAL_ARTICLES:]


@pytest.fixture(scope="module")
def examples(training_docs):
    return list(generate(training_docs, seed=3))


@pytest.mark.parametrize("kind, sentence, answer, phrase", [
    ("money", "Thành phố Hà Nội đã trao tặng tỉnh Vĩnh Phúc 3 tỷ đồng để xây nhà đại đoàn kết.", "3 tỷ đồng", "bao nhiêu"),
    ("count", "Công an tỉnh đã bắt giữ 12 đối tượng trong đường dây đánh bạc qua mạng.", "12 đối tượng", "đối tượng"),
    ("date", "Hội nghị được tổ chức vào ngày 6/2/2017 tại trụ sở Tỉnh ủy.", "ngày 6/2/2017", "nào"),
    ("person", "Phát biểu tại buổi lễ, ông Nguyễn Văn Trì cho biết tỉnh sẽ tiếp tục hỗ trợ.", "Nguyễn Văn Trì", "ai"),
])
def test_the_answer_becomes_its_question_phrase(kind, sentence, answer, phrase):
    a = sentence.index(answer)
    for seed in range(5):
        q = make_question(sentence, a, a + len(answer), kind, random.Random(seed))
        assert q is not None and fold(phrase) in fold(q), q
        assert fold(answer.split()[0] if kind == "count" else answer) not in fold(q), q  # the answer is gone


@needs_archive
def test_examples_point_at_their_answers(examples):
    assert len(examples) > 300
    for ex in examples:
        if ex["answer_start"] >= 0:
            assert ex["context"][ex["answer_start"]:ex["answer_start"] + len(ex["answer"])] == ex["answer"]
            assert ex["kind"] in KINDS
        else:  # an unanswerable example: the passage does not hold the answer, or the question was changed
            assert ex["answer"] == "" and ex["how"] in ("other-passage", "other-article", "swapped")
        assert len(ex["context"]) <= 2 * 500 and ex["question"].strip()


@needs_archive
def test_every_kind_and_way_of_making_is_there(examples):
    s = stats(examples)
    assert set(s["by_kind"]) == set(KINDS)
    assert {"cloze", "other-passage", "other-article", "paraphrase"} <= set(s["by_how"])
    assert 0.15 < 1 - s["answerable"] / s["examples"] < 0.5  # a share of "no answer" to learn abstaining from
    typed = Counter(fold(e["question"]) == e["question"].lower() for e in examples)
    assert typed[True] > 0.05 * len(examples)  # some typed without diacritics


@needs_archive
def test_paraphrases_come_from_another_article(examples, training_docs):
    by_id = {d.id: d for d in training_docs}
    cloze = {(e["question"], e["doc_id"]) for e in examples if e["how"] == "cloze"}
    for e in (e for e in examples if e["how"] == "paraphrase"):
        assert e["context"] in by_id[e["doc_id"]].text
        assert (e["question"], e["doc_id"]) not in cloze


@needs_archive
def test_other_article_negatives_share_words_but_not_the_answer(examples, training_docs):
    """Another article's passage about the same things, which does not state the answer."""
    by_id = {d.id: d for d in training_docs}
    asked = {e["question"]: e for e in examples if e["how"] == "cloze"}
    negatives = [e for e in examples if e["how"] == "other-article"]
    assert negatives
    for e in negatives:
        source = asked[e["question"]]
        assert e["doc_id"] != source["doc_id"] and e["context"] in by_id[e["doc_id"]].text
        assert not contains(e["context"], [source["answer"]])  # not as whole words


@needs_archive
def test_generation_is_seeded(training_docs):
    assert list(generate(training_docs[:40], seed=1)) == list(generate(training_docs[:40], seed=1))


def test_no_question_comes_from_the_held_out_articles(tmp_path):
    records = [{"id": f"a{i}", "title": f"Bài {i}", "text": (SEEDS / name).read_text("utf-8")}
               for i, name in enumerate(sorted(p.name for p in SEEDS.glob("*.txt")) * 2)]
    archive = tmp_path / "news.jsonl"
    archive.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    train_ex, dev_ex = examples_for(tmp_path / "out", archive, docs=3, seed=0, held_out=5)
    assert train_ex and dev_ex
    assert {e["doc_id"] for e in train_ex + dev_ex} <= {f"a{i}" for i in range(5, 10)}
    assert not {e["doc_id"] for e in train_ex} & {e["doc_id"] for e in dev_ex}


def test_seed_articles_make_questions():
    docs = corpus.read_folder(SEEDS)
    made = list(generate(docs, seed=0))
    assert any(e["kind"] == "money" and "bao nhieu" in fold(e["question"]) for e in made)


def test_examples_made_with_other_settings_are_not_reused(tmp_path):
    records = [{"id": f"a{i}", "title": f"Bài {i}", "text": (SEEDS / name).read_text("utf-8")}
               for i, name in enumerate(sorted(p.name for p in SEEDS.glob("*.txt")) * 2)]
    archive = tmp_path / "news.jsonl"
    archive.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    first = examples_for(tmp_path / "out", archive, docs=3, seed=0, held_out=5)
    assert examples_for(tmp_path / "out", archive, docs=3, seed=0, held_out=5) == first  # resumed: the same
    with pytest.raises(ValueError, match="holds examples made with .*'docs': 3.*give another --out"):
        examples_for(tmp_path / "out", archive, docs=2, seed=0, held_out=5)
