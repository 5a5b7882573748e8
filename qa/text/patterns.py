"""The Vietnamese patterns that the readers, the claim checker, the question generator, filters and formats
share: numbers, amounts with their unit, dates, names of people, places and organisations.

Patterns in the first group (AMOUNT, DATE, …) run on folded text (qa/text/normalise.py:
diacritics and case dropped, the same length as the NFC text), so every match maps back to exact offsets in
the source; the name runs (CAP_RUN, NAME_RUN) and the span finders read the text as written beside it.
"""
from __future__ import annotations

import re

import regex

from qa.text.normalise import canonical, fold, has_diacritics

# -- on folded text ---------------------------------------------------------------------------------------
NUM = r"\d+(?:[.,]\d+)*"
CURRENCY = r"(?:dong|usd|do la|euro|vnd|bang anh|bang|yen|franc|won|rup|peso|nhan dan te|\$)"
AMOUNT = rf"{NUM}(?:\s*(?:nghin|ngan|trieu|ty|ti))*\s*{CURRENCY}\b|{NUM}\s*(?:nghin|ngan|trieu|ty|ti)\b(?:\s*dong)?"
YEAR = r"\b(?:1\d|20)\d\d\b"
DATE = (r"(?:ngay\s+\d{1,2}\s+)?thang\s+\d{1,2}(?:\s+nam\s+\d{4}|\s*/\s*\d{4})?"
        r"|ngay\s+\d{1,2}(?:\s*[/-]\s*\d{1,2}(?:\s*[/-]\s*\d{4})?)?|\d{1,2}/\d{1,2}/\d{4}|the ky\s+(?:[ivxl]+|\d+)\b"
        rf"|(?:(?:giai doan|nhiem ky|thoi ky|nhung nam|thap nien|nam)\s+)?{YEAR}(?:\s*(?:-|va|den)\s*{YEAR})?")
PLACE_WORDS = r"(?<!ve )tinh|thanh pho|tp\.?|huyen|quan|thi xa|xa|(?<!dia )phuong|thi tran|thu do"  # what follows them is a place
PLACE_HEAD = rf"(?:{PLACE_WORDS}|vung|khu|tai|o|den|duong|song|cau)"
ORG_HEAD = ("so|bo|ban|uy ban|ubnd|hdnd|cong ty|tap doan|ngan hang|truong|vien|cuc|tong cuc|hoi|doan|mat tran|"
            "hoi dong|trung tam|benh vien|quy|tong cong ty|nha may|hop tac xa|thanh uy|tinh uy|dang uy")
ORG_STOP = set("của và đã là được với tại trong cho các những này đó về để từ có sẽ đang như khi thì mà ở theo bằng "
               "nhằm cùng tỉnh thành phố huyện".split())
NUMERIC_DATE = r"\b\d{1,2}\s*/\s*\d{1,2}(?:\s*/\s*\d{2,4})?\b"  # 15/3, 15/3/2019: a date a generated answer claims
QUESTION_DAY = r"\b(\d{1,2})[/-](\d{1,2})[/-]((?:19|20)\d\d)\b"  # 15/3/2019, 15-3-2019: a day a question names
MONTH_YEAR = r"\b(?:thang\s+(\d{1,2})\s*(?:[/-]|\s+nam)|(\d{1,2})[/-])\s*((?:19|20)\d\d)\b"  # tháng 3/2019, 3/2019
QUARTER_YEAR = r"\bquy\s+(1|2|3|4|i|ii|iii|iv)\s*(?:/|-|\s+nam\s+)\s*((?:19|20)\d\d)\b"  # quý 2/2019, quý II năm 2019
NAMED_YEAR = r"\bnam\s+((?:19|20)\d\d)\b"  # năm 2017


def dmy(space: str = r"\s") -> str:
    """Day, month, year with their groups: 3/9/2020, 3.9.2020, 03-09-2020, spaces (`space`) around the marks."""
    return rf"(\d{{1,2}}){space}*[/.-]{space}*(\d{{1,2}}){space}*[/.-]{space}*(\d{{4}})"

# -- on the text as written -----------------------------------------------------------------------------
SURNAMES = set(fold(
    "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý Đào Đoàn Vương Trịnh Trương Lâm "
    "Phùng Mai Tô Hà Cao Lương Đinh Tạ Kiều Đàm Lưu Chu Quách Thái Triệu Lại Mạc Nghiêm Âu Khổng Tăng Thân Văn "
    "Giang Hứa Doãn Tôn Từ Ông Khúc Kim La Lò Quan Hầu Bạch Chử Diệp Đồng").split())
CAP_RUN = regex.compile(r"\b\p{Lu}[\p{L}\d]*(?:[ \t]+\p{Lu}[\p{L}\d]*)*")  # capitalised word runs: names
NAME_RUN = regex.compile(r"\b\p{Lu}\p{L}*(?:[ \t]+(?:\p{Lu}\.|\p{Lu}\p{L}*))*")  # and initials: James O. McKinsey


def person_like(syllables: list[str]) -> bool:
    """Folded syllables that read as a Vietnamese person's full name: a surname and two or three more."""
    return 3 <= len(syllables) <= 4 and syllables[0] in SURNAMES


def people(sent: str, places: frozenset[str]) -> list[tuple[int, int]]:
    """Names: capitalised runs, trimmed to start at a Vietnamese surname when they hold one ("Bí thư Hoàng
    Thị Thúy Lan" -> "Hoàng Thị Thúy Lan"); other runs of up to five words as they are (Lady Gaga). Not a
    place the corpus names as one (Hà Nội), nor a lone Vietnamese word (Đảng)."""
    vietnamese, other = [], []
    for m in NAME_RUN.finditer(sent):
        syl = [(x.start(), x.end()) for x in re.finditer(r"\S+", m.group())]
        start = next((s for i, (s, e) in enumerate(syl)
                      if fold(m.group()[s:e]) in SURNAMES and 2 <= len(syl) - i <= 4), None)
        if start is not None:
            vietnamese.append((m.start() + start, m.end()))
        elif len(syl) <= 5 and (m.start() > 0 or len(syl) > 1) and (len(syl) > 1 or not has_diacritics(m.group())):
            other.append(m.span())
    return [s for s in vietnamese or other if fold(sent[s[0]:s[1]]) not in places]


def named_after(heads: str, sent: str, folded: str, keep_head: bool = False) -> list[tuple[int, int]]:
    """Capitalised names right after a head word (tỉnh Vĩnh Phúc, Sở Công Thương)."""
    caps = {m.start(): m.end() for m in CAP_RUN.finditer(sent)}
    out = []
    for m in re.finditer(rf"\b(?:{heads})[ \t]+", folded):
        if m.end() in caps:
            out.append((m.start() if keep_head else m.end(), caps[m.end()]))
        elif keep_head and m.start() in caps:
            out.append((m.start(), caps[m.start()]))
    return out


def organisations(sent: str, folded: str) -> list[tuple[int, int]]:
    """A head word and the name after it, whose later words may be lowercase (Bộ Chính trị, Sở Kế hoạch và
    Đầu tư): the name runs while its words are capitalised or follow a capitalised one, and "và" joins
    two capitalised parts; it stops at any other word or punctuation, or where a person's name starts."""
    out = []
    names_at = [a for a, _ in people(sent, frozenset())]
    for m in re.finditer(rf"\b(?:{ORG_HEAD})\b", folded):
        if not sent[m.start()].isupper():
            continue
        toks = [t for t in re.finditer(r"\S+", sent[m.end():])][:8]
        end, prev_cap = m.end(), True
        for i, t in enumerate(toks):
            word = t.group()
            cap = word[:1].isupper()
            joins = fold(word) == "va" and i + 1 < len(toks) and toks[i + 1].group()[:1].isupper()
            if not (cap or joins or (prev_cap and canonical(word.strip(",.;:")).lower() not in ORG_STOP)):
                break
            end = m.end() + t.end() - (len(word) - len(word.rstrip(",.;:)")))
            if word[-1:] in ",.;:)":
                break
            prev_cap = cap
        end = min([end] + [a for a in names_at if m.end() < a < end])  # "Thành ủy Hà Nội | Hoàng Trung Hải"
        if end > m.end():
            out.append((m.start(), len(sent[:end].rstrip())))
    return out


def acronyms(sent: str) -> list[tuple[int, int]]:
    return [m.span() for m in regex.finditer(r"\b\p{Lu}{2,}(?:[ \t]+\p{Lu}\p{L}*)*", sent)]


def contains(folded_text: str, phrase: str) -> bool:
    return find(folded_text, phrase) >= 0


def find(text: str, phrase: str, start: int = 0) -> int:
    """Where `phrase` first occurs in `text` from `start` as whole words, or -1 (str.find: no regex to compile
    per question and sentence)."""
    while (at := text.find(phrase, start)) >= 0:
        end = at + len(phrase)
        if (at == 0 or not text[at - 1].isalnum()) and (end == len(text) or not text[end].isalnum()):
            return at
        start = at + 1
    return -1
