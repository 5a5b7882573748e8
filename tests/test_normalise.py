import unicodedata

from qa.text.normalise import canonical, clean, fold, has_diacritics, terms, words


def test_nfd_and_nfc_give_the_same_terms():
    text = "Hà Nội tặng tỉnh Vĩnh Phúc 3 tỷ đồng"
    assert terms(unicodedata.normalize("NFD", text)) == terms(text)


def test_both_tone_mark_placements_match():
    for old, new in [("hòa", "hoà"), ("thúy", "thuý"), ("Hòa Bình", "Hoà Bình"), ("khỏe", "khoẻ"), ("thủy", "thuỷ")]:
        assert canonical(old) == canonical(new), (old, new)
        assert terms(old) == terms(new)


def test_retone_leaves_other_words_alone():
    for w in ["người", "quý", "nghĩa", "café", "Trump", "COVID-19", "10.900"]:
        assert canonical(w) == w


def test_clean_removes_invisible_and_control_characters_and_unifies_dashes():
    assert clean("Hà\u200b Nội\u00a0– Hà\x07 Nam\r\n") == "Hà Nội - Hà Nam\n"


def test_fold_strips_all_diacritics():
    assert fold("Hà Nội tặng Vĩnh Phúc ĐỒNG") == "ha noi tang vinh phuc dong"
    assert has_diacritics("Hà Nội") and not has_diacritics("ha noi")


def test_one_letter_syllables_and_numbers_are_words():
    assert words("ở ý á 10.900 người, 100.000 tỷ") == ["ở", "ý", "á", "10.900", "người", "100.000", "tỷ"]


def test_terms_have_bigrams_folded_forms_and_abbreviations():
    t = terms("UBND TP. Hà Nội")
    assert "hà nội" in t and "~ha noi" in t
    assert "ủy ban" in t and "thành phố" in t  # UBND, TP. expanded
    assert set(terms("ha noi")) & set(terms("Hà Nội")) >= {"~ha", "~noi", "~ha noi"}


def test_fold_aligned_keeps_offsets_even_with_stray_combining_marks():
    from qa.text.normalise import fold_aligned

    text = clean("Hoà Bình\u0335 tặng 3 tỷ đồng")
    folded = fold_aligned(text)
    assert len(folded) == len(text)
    i = folded.index("3 ty dong")
    assert text[i:i + 9] == "3 tỷ đồng"
    assert fold_aligned("Hoà Bình").startswith("hoa binh")
