"""Calibration reads each held-out question as the reader is used: against several windows of its
article, to be answered, and those windows alone, to be abstained on; the threshold is the best one."""
from __future__ import annotations

import json

from training.calibrate import cases, threshold


def _ex(question, context, answer="", how="squad", article="A"):
    start = context.find(answer) if answer else -1
    return {"question": question, "context": context, "answer": answer, "answer_start": start, "how": how,
            "doc_id": question, "article": article}


def test_a_question_is_read_among_its_articles_windows():
    dev = [_ex("Who?", "Ann wrote it.", "Ann"), _ex("Who?", "Bob sang.", how="squad-other-paragraph"),
           _ex("When?", "It was 1900.", "1900"), _ex("Where?", "In Paris, Ann wrote.", "Paris"),
           _ex("What?", "Elsewhere.", "Elsewhere", article="B")]
    rows = {(r["question"], r["answer"]): r["contexts"] for r in cases(dev, passages=3)}
    assert rows[("Who?", "Ann")][0] == "Ann wrote it." and len(rows[("Who?", "Ann")]) == 3
    assert "Bob sang." in rows[("Who?", "Ann")]  # its own unanswerable window first
    assert "In Paris, Ann wrote." not in rows[("Who?", "")]  # a window holding the answer is not a negative
    assert set(rows[("Who?", "")]) == set(rows[("Who?", "Ann")][1:])
    assert ("What?", "") not in rows  # nothing else in its article: no unanswerable case
    assert all(c != "Elsewhere." for (q, _), cs in rows.items() if q != "What?" for c in cs)


def test_the_threshold_is_the_best_over_answered_and_abstained_cases():
    rows = [{"answer": "Ann", "lang": "squad"}, {"answer": "1900", "lang": "news"}, {"answer": "", "lang": "news"},
            {"answer": "", "lang": "squad"}]
    preds = [("Ann", 5.0), ("1900", 2.0), ("Bob", 1.0), ("x", 3.0)]
    t, figures = threshold(rows, preds)
    assert t == 1.0  # 3 of 4 right, as at 3.0: the lower of equals
    assert figures["dev all"]["cases"] == 4 and figures["dev news"]["abstention recall"] == 1.0
    assert figures["dev squad"]["answerable F1"] == 1.0


def test_bad_calibration_inputs_are_one_clear_line(tmp_path, capsys):
    from training.calibrate import main

    assert main(["--dev", str(tmp_path)]) == 2
    assert "no dev.jsonl or squad-dev.jsonl" in capsys.readouterr().err
    (tmp_path / "dev.jsonl").write_text('{"question": "Ai?"}\n', encoding="utf-8")
    assert main(["--dev", str(tmp_path)]) == 2
    assert "dev.jsonl: not a file of training examples" in capsys.readouterr().err
    (tmp_path / "dev.jsonl").write_text(json.dumps(_ex("Who?", "Ann wrote it.", "Ann")) + "\n", encoding="utf-8")
    assert main(["--dev", str(tmp_path), "--limit", "0"]) == 2
    assert "at least 1 case" in capsys.readouterr().err
    assert main(["--dev", str(tmp_path), "--weights", str(tmp_path / "none.safetensors")]) == 2
    assert "no trained reader at" in capsys.readouterr().err
