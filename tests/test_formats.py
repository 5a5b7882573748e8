"""Articles as people keep them: web pages, Markdown with front matter, PDFs, Word files, dated text; broken
and hostile files are skipped with a warning naming them, and never end a run."""
from __future__ import annotations

import gzip
import json
import logging
import shutil
from pathlib import Path

import pytest

import qa
from qa.intake import corpus, formats

FIXTURES = Path(__file__).parent / "fixtures" / "formats"
PDF_TEXT = ["Bình Định khánh thành nhà máy điện gió 1.200 tỷ đồng",
            "Ngày 5/6, tỉnh Bình Định khánh thành nhà máy điện gió đầu tiên, tổng vốn 1.200 tỷ đồng."]


def _pdf(path: Path, lines: list[str]) -> Path:
    """A real PDF with a text layer (fpdf2, a Unicode font that ships with matplotlib), or none without lines."""
    import matplotlib
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.add_font("DejaVu", fname=str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"))
    pdf.set_font("DejaVu", size=12)
    pdf.set_title(lines[0] if lines else "")
    for line in lines:
        pdf.multi_cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    if not lines:  # a scanned page: only a picture, no text layer
        pdf.rect(20, 20, 150, 200, style="F")
    pdf.output(str(path))
    return path


def _docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.core_properties.title = "Quảng Ninh đón 1 triệu lượt khách"
    d.add_paragraph("Quảng Ninh đón 1 triệu lượt khách")
    d.add_paragraph("Trong tháng 7, Quảng Ninh đón hơn 1 triệu lượt khách du lịch.")
    table = d.add_table(rows=2, cols=2)
    for (r, c), value in {(0, 0): "Địa điểm", (0, 1): "Lượt khách", (1, 0): "Vịnh Hạ Long", (1, 1): "600.000"}.items():
        table.cell(r, c).text = value
    d.add_paragraph("Doanh thu du lịch tăng 20% so với cùng kỳ.")
    d.save(str(path))
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """The fixture folder plus the binary files made here: a PDF, a scanned PDF, a Word file, a broken one."""
    root = tmp_path_factory.mktemp("formats")
    shutil.copytree(FIXTURES, root, dirs_exist_ok=True)
    _pdf(root / "dien-gio.pdf", PDF_TEXT)
    _pdf(root / "ban-quet.pdf", [])
    _docx(root / "du-lich.docx")
    (root / "hong.docx").write_bytes(b"PK\x03\x04 not really a zip")
    records = [{"id": "cms-1", "title": "Tin CMS", "text": "Long An xây 3 cầu mới.", "category": "Giao thông"}]
    (root / "xuat-cms.jsonl.gz").write_bytes(gzip.compress(json.dumps(records[0], ensure_ascii=False).encode()))
    return root


def test_each_format_gives_its_text_and_what_its_file_says(folder):
    docs = {d.id: d for d in corpus.read_folder(folder)}
    page = docs["tin-ha-noi"]
    assert page.title == "Hà Nội hỗ trợ Lào Cai 5 tỷ đồng khắc phục mưa lũ"
    assert (page.date, page.source) == ("2019-08-12", "Báo Thủ Đô Mẫu")
    assert page.url.startswith("https://baothudomau.example.vn/") and page.meta == {"author": "Minh Anh"}
    assert "trao 5 tỷ đồng" in page.text and "3 tỷ đồng" in page.text  # paragraphs and the table
    for noise in ("Trang chủ", "Tin liên quan", "Giá vàng", "Giấy phép", "Quảng cáo"):
        assert noise not in page.text, noise  # menus, related links, ads and footer are not the article
    md = docs["ban-tin"]
    assert (md.title, md.date, md.source) == ("Đà Nẵng khai trương tuyến xe buýt nhanh thứ hai", "2018-04-20",
                                             "Báo Miền Trung Mẫu")
    assert md.meta == {"category": "Giao thông", "tags": ["xe buýt", "Đà Nẵng"]} and not md.text.startswith("---")
    pdf = docs["dien-gio"]
    assert pdf.title == PDF_TEXT[0] and "tổng vốn 1.200 tỷ đồng" in pdf.text
    word = docs["du-lich"]
    assert word.title == "Quảng Ninh đón 1 triệu lượt khách"
    lines = word.text.splitlines()
    assert lines.index("Vịnh Hạ Long | 600.000") < lines.index("Doanh thu du lịch tăng 20% so với cùng kỳ.")  # in order
    assert docs["dong-ngay"].date == "2020-09-03"  # from its dateline "Cần Thơ, 3/9/2020"
    assert docs["cms-1"].meta == {"category": "Giao thông"}  # a CMS export's records, each an article


def test_bad_files_are_skipped_with_a_warning_naming_them(folder, caplog):
    with caplog.at_level(logging.WARNING, logger="qa"):
        ids = {d.id for d in corpus.read_folder(folder)}
    assert {"tin-ha-noi", "ban-tin", "dien-gio", "du-lich", "dong-ngay"} <= ids
    assert not ids & {"hong", "ban-quet", "chi-co-menu"}
    said = caplog.text
    assert "ban-quet.pdf: " + formats.NO_TEXT_LAYER in said
    assert "chi-co-menu.html: " + formats.NO_ARTICLE in said
    assert "hong.pdf: not a readable PDF" in said and "hong.docx: not a readable .docx file" in said


def test_a_parser_past_its_time_limit_costs_one_file(folder, caplog):
    """A parser that runs too long is stopped (its worker killed) and the next file is read by a new one."""
    paths = [folder / "dien-gio.pdf", folder / "du-lich.docx"]
    with caplog.at_level(logging.WARNING, logger="qa"):
        first = list(corpus.read_files(paths[:1], timeout=0.001))
        both = list(corpus.read_files(paths, timeout=30))
    assert first[0][1] is None and "ran past" in first[0][2] and "dien-gio.pdf: its parser ran past" in caplog.text
    assert [why for _, _, why in both] == ["", ""]


def test_an_upload_is_read_by_its_format(folder):
    fields = corpus.read_upload("bai.docx", (folder / "du-lich.docx").read_bytes())
    assert "1 triệu lượt khách" in fields["text"]
    with pytest.raises(ValueError, match="OCR"):
        corpus.read_upload("quet.pdf", (folder / "ban-quet.pdf").read_bytes())
    with pytest.raises(ValueError, match="not a format"):
        corpus.read_upload("anh.png", b"\x89PNG")


@pytest.mark.parametrize("value, iso", [("2019-03-15", "2019-03-15"), ("15/3/2019", "2019-03-15"),
                                        ("15-03-2019 08:00", "2019-03-15"), ("2019-02-30", ""), ("tháng Ba", ""),
                                        (None, ""), (20190315, "")])
def test_dates_are_iso_or_nothing(value, iso):
    assert formats.iso_date(value) == iso


@pytest.mark.parametrize("text, iso", [("Cần Thơ, 3/9/2020 – UBND thành phố…", "2020-09-03"),
                                       ("Tin nhanh\nTP.HCM, ngày 15/3/2019 - Sáng nay…", "2019-03-15"),
                                       ("Thưa bà, ngày 6/2/2017 ông ấy đã nói…", ""),  # running text, not a dateline
                                       ("Phát biểu tại Hội nghị Sở, ngày 9/1/2017…", ""), ("Hà Nội, 31/2/2019", "")])
def test_a_dateline_is_a_place_name_then_a_date(text, iso):
    assert formats.dateline(text) == iso


def test_the_configured_parse_time_limit_is_the_one_used_when_a_folder_is_indexed(folder, caplog):
    """QA_PARSE_SECONDS reaches the parsers of `qa.build_index` (it used to be the class default there)."""
    with caplog.at_level(logging.WARNING, logger="qa"):
        idx = qa.build_index(folder, settings=qa.Settings.from_env(parse_seconds=0.001))
    assert "its parser ran past 0.001 s" in caplog.text and "dien-gio" not in {d.id for d in idx.docs}
    assert {"dong-ngay", "ban-tin"} <= {d.id for d in idx.docs}  # text and Markdown need no parser
