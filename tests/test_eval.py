"""The eval over the real library: the seeds gold set and XQuAD-vi, against the issue's thresholds.

Thresholds not reached yet are strict xfails, with the figure measured: they fail the run as soon as they
pass, so the marker must then be removed. Never lower a threshold to make a test pass.
"""
from __future__ import annotations

import json

import pytest

import qa
from eval import run as ev
from eval.xquad import DEFAULT_PATH, read_xquad
from qa.intake import corpus
from training.train import ARCHIVE, EVAL_ARTICLES

from .conftest import ROOT, SEEDS

XQUAD = DEFAULT_PATH
NEWS = ARCHIVE


def not_yet(now: str):
    return pytest.mark.xfail(strict=True, reason=f"target not reached yet (measured {now})")


@pytest.fixture(scope="module")
def seeds_report(seed_index):
    gold = ev.read_gold(ROOT / "eval" / "gold_seeds.jsonl")
    return ev.run(seed_index, gold, ["hybrid"])["modes"]["hybrid"]["metrics"]


@pytest.fixture(scope="module")
def learned_seeds_report(seed_index):
    gold = ev.read_gold(ROOT / "eval" / "gold_seeds.jsonl")
    return ev.run(seed_index, gold, ["hybrid"], readers=["learned", "rules+learned", "learned+rules"])["modes"]


@pytest.fixture(scope="module")
def xquad_report(settings):
    docs, gold = read_xquad(XQUAD)
    idx = qa.build_index(docs, settings=settings)
    return ev.run(idx, gold, ["hybrid"])["modes"]["hybrid"]["metrics"]


def test_gold_set_is_well_formed():
    gold = ev.read_gold(ROOT / "eval" / "gold_seeds.jsonl")
    texts = {p.stem: p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt")}
    assert len(gold) >= 60 and sum(not g["answerable"] for g in gold) >= 12
    assert len({g["id"] for g in gold}) == len(gold)
    for g in gold:
        assert g["answerable"] == bool(g["answers"]) == bool(g["doc_ids"]), g["id"]
        for doc_id in g["doc_ids"]:  # every article named really states an alias
            assert any(ev.contains(texts[doc_id], [a]) for a in g["answers"]), (g["id"], doc_id)


@pytest.mark.parametrize("metric, op, target", [
    ("answer accuracy", ">=", 0.90),
    ("citation accuracy", ">=", 0.90),
    ("abstention recall", ">=", 0.80),
    ("wrongly abstained", "<=", 0.05),
])
def test_seeds_gold_thresholds(seeds_report, metric, op, target):
    value = seeds_report[metric]
    assert (value >= target if op == ">=" else value <= target), f"{metric} = {value}, target {op} {target}"


@pytest.mark.parametrize("reader, metric, floor", [  # the shipped reader as measured (docs/evaluation.md): no regression
    ("learned", "answer accuracy", 0.62), ("learned", "abstention recall", 0.90), ("learned", "citation accuracy", 0.78),
    ("rules+learned", "answer accuracy", 0.90), ("rules+learned", "abstention recall", 0.80),
    ("learned+rules", "answer accuracy", 0.77), ("learned+rules", "citation accuracy", 0.97)])
def test_the_shipped_reader_on_the_seeds(learned_seeds_report, reader, metric, floor):
    value = learned_seeds_report[f"hybrid/{reader}"]["metrics"][metric]
    assert value >= floor, f"{reader}: {metric} = {value}, measured at shipping {floor} or more"


@pytest.mark.skipif(not XQUAD.exists(), reason=f"{XQUAD} is not on this machine")
@pytest.mark.parametrize("metric, target", [
    pytest.param("R@1", 0.95, marks=not_yet("0.943 (0.941 before the Lucene idf; 0.945 with the fp32 backend then)")),
    ("R@5", 0.99),
    pytest.param("answer accuracy", 0.80, marks=not_yet("0.388; the answer's sentence holds the span 0.663; learned+rules 0.419")),
    pytest.param("F1", 0.50, marks=not_yet("0.307 with the rules; learned 0.453, learned+rules 0.484")),
])
def test_xquad_targets(xquad_report, metric, target):
    assert xquad_report[metric] >= target, f"{metric} = {xquad_report[metric]}, target >= {target}"


def test_cli_writes_report_table_and_chart(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "003_82f23e52a0d4abee.txt").write_text((SEEDS / "003_82f23e52a0d4abee.txt").read_text("utf-8"), "utf-8")
    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join(json.dumps(g, ensure_ascii=False) for g in [
        {"id": "a", "question": "Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?", "answers": ["3 tỷ đồng"],
         "doc_ids": ["003_82f23e52a0d4abee"], "kind": "money", "answerable": True},
        {"id": "b", "question": "Hà Nội tặng Hòa Bình bao nhiêu tiền?", "answers": [], "doc_ids": [],
         "kind": "money", "answerable": False}]), encoding="utf-8")
    out = tmp_path / "out"
    assert ev.main(["--gold", str(gold), "--corpus", str(corpus), "--mode", "hybrid", "bm25", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    for mode in ("hybrid", "bm25"):
        m = report["modes"][mode]["metrics"]
        assert m["answer accuracy"] == 1.0 and m["abstention recall"] == 1.0 and m["R@1"] == 1.0
    assert "| answer accuracy | 1.0 | 1.0 |" in (out / "report.md").read_text(encoding="utf-8")
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, message", [
    (["--gold", "no/such/file.jsonl"], "No such file"),
    (["--xquad", "no/such/xquad.json"], "No such file"),
    (["--k", "0"], "--k must be at least 1"),
])
def test_cli_bad_input_is_one_line(args, message, tmp_path, capsys):
    assert ev.main(args + ["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bad_gold_line_is_named(tmp_path):
    bad = tmp_path / "gold.jsonl"
    bad.write_text('{"id": "a"}\nnot json\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"gold.jsonl:2"):
        ev.read_gold(bad)


def test_xquad_reader_refuses_other_json(tmp_path):
    other = tmp_path / "x.json"
    for text in ('{"rows": []}', "not json", '{"data": []}'):
        other.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match="SQuAD"):
            read_xquad(other)


@pytest.mark.skipif(not NEWS.exists(), reason=f"{NEWS} is not on this machine")
def test_news_gold_set_is_well_formed():
    """Written by hand from the archive's first 5,000 articles (never trained on); `make eval-news` scores it."""
    gold = ev.read_gold(ROOT / "eval" / "gold_news.jsonl")
    docs = {d.id: d for d in corpus.read_jsonl(NEWS, EVAL_ARTICLES)}
    answerable = [g for g in gold if g["answerable"]]
    assert len(gold) >= 120 and len(gold) - len(answerable) >= 25
    assert len({d for g in gold for d in g["doc_ids"]}) >= 60
    assert sum(g["paraphrased"] for g in answerable) >= len(answerable) / 4
    assert sum(g["no_diacritics"] for g in gold) >= 0.15 * len(gold)
    assert len({g["id"] for g in gold}) == len(gold)
    for g in gold:
        assert g["answerable"] == bool(g["answers"]) == bool(g["doc_ids"]), g["id"]
        for doc_id in g["doc_ids"]:
            doc = docs[doc_id]  # among the first 5,000
            assert ev.contains(doc.title + "\n" + doc.text, g["answers"]), (g["id"], doc_id)
