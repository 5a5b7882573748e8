"""Vietnamese text normalisation: the display form (`clean`), the matching form (`canonical`), the
diacritic-free form (`fold`) and the BM25 terms built from them (`terms`).

Both tone-mark placements (hoà/hòa, thuý/thúy) map to one canonical spelling, NFD and NFC input give the
same terms, and a question typed without diacritics still meets the text through the folded terms.
"""
from __future__ import annotations

import re
import unicodedata

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_DASHES = re.compile("[\u2010\u2011\u2012\u2013\u2014\u2015\u2212]")
_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\t]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")  # a lone half of a UTF-16 pair (JSON "\\ud800"): not text

TONES = "\u0300\u0301\u0303\u0309\u0323"  # huyền, sắc, ngã, hỏi, nặng
_VOWELS = set("aăâeêioôơuưy")
_MARKED = set("ăâêôơư")  # a tone goes on these first (ươ: on ơ)
_FINALS = {"", "c", "ch", "m", "n", "ng", "nh", "p", "t"}
_OLD_STYLE_PAIRS = {"oa", "oe", "uy"}  # open syllables: tone on the first vowel (hòa, thúy), as news print it

# Abbreviations common in Vietnamese news, matched both ways at the term level.
ABBREVIATIONS = {
    "ubnd": "ủy ban nhân dân", "hđnd": "hội đồng nhân dân", "tp": "thành phố", "tphcm": "thành phố hồ chí minh",
    "mttq": "mặt trận tổ quốc", "thcs": "trung học cơ sở", "thpt": "trung học phổ thông", "ths": "thạc sĩ",
    "pgs": "phó giáo sư", "gs": "giáo sư", "ts": "tiến sĩ", "bch": "ban chấp hành", "csgt": "cảnh sát giao thông",
    "vn": "việt nam", "đbqh": "đại biểu quốc hội", "hđqt": "hội đồng quản trị", "kt-xh": "kinh tế xã hội",
}
_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W_]+(?:-[^\W\d_]+)?")


def clean(text: str) -> str:
    """Display form: zero-width and control characters removed, dashes and spaces unified, lone surrogates
    replaced (U+FFFD), then NFC (last: a removed character may have kept a letter from its accent).

    Newlines are kept (they separate paragraphs); offsets of chunks refer to this form.
    """
    text = _CONTROL.sub("", text.translate(_ZERO_WIDTH).replace("\r\n", "\n").replace("\r", "\n"))
    text = _SPACES.sub(" ", _DASHES.sub("-", _SURROGATE.sub("\ufffd", text)))
    return unicodedata.normalize("NFC", text)


def canonical(text: str) -> str:
    """Matching form: `clean`, then every syllable's tone mark moved to one canonical vowel."""
    return unicodedata.normalize("NFC", re.sub(r"[^\W\d_]+", lambda m: _retone(m.group()), clean(text)))


def fold(text: str) -> str:
    """Diacritic-free lowercase form (đ -> d), for questions typed without accents."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold_aligned(text: str) -> str:
    """`fold(canonical(text))` kept character for character aligned with `text` (cleaned NFC text), so a
    match in the folded form maps back to the same offsets in the source."""
    canon = canonical(text)
    if len(canon) != len(text):
        canon = text
    folded = fold(canon)
    if len(folded) == len(canon):
        return folded
    return "".join(f if len(f := fold(c)) == 1 else c for c in canon)  # a rare letter folds to 0 or 2 chars


def has_diacritics(text: str) -> bool:
    return fold(text) != text.lower()


def words(text: str) -> list[str]:
    """Lowercase canonical syllables and numbers, in order (one-letter syllables kept)."""
    return _WORD.findall(canonical(text).lower())


def terms(text: str) -> list[str]:
    """BM25 terms: syllables and syllable bigrams, in accented and folded (`~`-prefixed) forms,
    with known abbreviations expanded so UBND meets "Ủy ban nhân dân"."""
    syllables: list[str] = []
    for w in words(text):
        syllables.append(w)
        if w in ABBREVIATIONS:
            syllables.extend(ABBREVIATIONS[w].split())
    out = syllables + [a + " " + b for a, b in zip(syllables, syllables[1:])]
    return out + ["~" + fold(t) for t in out]


def _retone(word: str) -> str:
    """Put a syllable's tone mark on the canonical vowel; words that are not Vietnamese syllables pass."""
    nfd = unicodedata.normalize("NFD", word)
    tones = [c for c in nfd if c in TONES]
    if len(tones) != 1 or len(word) > 7:
        return word
    base = unicodedata.normalize("NFC", "".join(c for c in nfd if c not in TONES))
    lower = base.lower()
    start = 2 if lower[:2] in ("qu", "gi") and len(lower) > 2 and lower[2] in _VOWELS else 0
    i = start
    while i < len(lower) and lower[i] not in _VOWELS:
        i += 1
    j = i
    while j < len(lower) and lower[j] in _VOWELS:
        j += 1
    if i == j or lower[j:] not in _FINALS:
        return word
    cluster = lower[i:j]
    marked = [k for k, c in enumerate(cluster) if c in _MARKED]
    if marked:
        pos = marked[-1]
    elif j < len(lower) or len(cluster) == 1:  # closed syllable: last vowel
        pos = len(cluster) - 1
    elif len(cluster) == 3:
        pos = 1
    else:
        pos = 0 if cluster in _OLD_STYLE_PAIRS or len(cluster) == 2 else len(cluster) - 1
    k = i + pos
    return unicodedata.normalize("NFC", base[:k + 1] + tones[0] + base[k + 1:])
