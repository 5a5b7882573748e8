from eval.metrics import contains, exact, f1, norm, recall_at, reciprocal_rank


def test_norm_handles_tones_case_and_punctuation():
    assert norm("Hoà Bình, 3 TỶ ĐỒNG.") == norm("hòa bình 3 tỷ đồng")


def test_answer_scores():
    assert contains("Thủ đô tặng 3 tỷ đồng", ["3 tỷ đồng"]) and not contains("", ["3 tỷ đồng"])
    assert not contains("13 tỷ đồng", ["3 tỷ đồng"])
    assert exact("3 tỷ đồng.", ["3 tỷ đồng"]) and not exact("3 tỷ", ["3 tỷ đồng"])
    assert f1("3 tỷ", ["3 tỷ đồng"]) == 0.8 and f1("x", ["3 tỷ đồng"]) == 0.0


def test_ranking_scores():
    assert reciprocal_rank(["a", "b"], {"b"}) == 0.5 and recall_at(["a", "b"], {"b"}, 1) == 0.0
