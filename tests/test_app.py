"""The chat page: its pieces on the real seed index, then the running app driven as a person would (Debian's
Chromium through playwright) and through its API (gradio_client), eight people at once."""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import app
from qa.config import Settings

from .conftest import CARD_QUESTION, NEW_ARTICLE, NEW_QUESTION, ROOT, SEEDS, app_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SHOTS = ROOT / "out" / "screenshots"
HOSTILE = "Bài thử <script>window.__xss = 1</script><img src=x onerror=\"window.__xss = 2\"> về hợp tác Huế.\n" \
          "Tỉnh Thừa Thiên Huế tặng tỉnh Quảng Trị <b>7 tỷ đồng</b> để xây trường."


@pytest.fixture()
def library(seed_index, tmp_path) -> app.Library:
    """A page's library over a private copy of the seed index (uploads must not touch the shared one)."""
    shutil.copytree(seed_index.path, tmp_path / "index")
    return app.Library(Settings.from_env(index_dir=tmp_path / "index", max_upload_bytes=20_000))


def test_reply_and_sources_cite_the_card_answer(library):
    ans = library.ask(CARD_QUESTION, 5, "hybrid")
    assert app.reply(ans).startswith("**3 tỷ đồng** [1]")
    html = app.sources(ans, library.index)
    assert "003_82f23e52a0d4abee" in html and "<mark>3 tỷ đồng</mark>" in html and "<details>" in html
    assert html.count("class='qa-source'") == len(ans.citations) == 5  # every passage, numbered
    assert html.count("class='qa-article'") == len({h.doc_id for h in ans.citations}) < 5  # one card an article


def test_not_found_says_so_and_keeps_the_closest_passages(library):
    ans = library.ask("Chủ tịch UBND tỉnh Hưng Yên là ai?", 3, "hybrid")
    assert not ans.found
    assert app.reply(ans).startswith("Không tìm thấy thông tin này trong các bài báo.")
    assert "Các đoạn gần nhất" in app.sources(ans, library.index) and "<mark>" not in app.sources(ans, library.index)


STATUS = {"✓": "added", "=": "duplicate", "✗": "rejected"}


def test_uploads_are_checked_and_named_safely(library):
    seed = next(SEEDS.glob("003_*.txt")).read_bytes()
    lines = app.added_lines(library.add([("anh.png", b"\x89PNG"), ("lon.txt", b"a" * 20_001), ("anh.txt", b"\x89PNG\x00\x00"),
                         ("latin1.txt", "Hà Nam".encode("cp1258")), ("rong.md", b"  \n"), ("trung.txt", seed),
                         ("../../etc/passwd.txt", NEW_ARTICLE.encode())]))
    assert [line[0] for line in lines] == ["✗", "✗", "✗", "✗", "✗", "=", "✓"], lines
    assert "chỉ nhận tệp .docx, .htm, .html, .md, .pdf, .txt, .jsonl, .jsonl.gz" in lines[0] and "tệp quá lớn" in lines[1] and "UTF-8" in lines[3]
    assert "003_82f23e52a0d4abee" in lines[5]
    saved = list(library.settings.uploads_dir().iterdir())
    assert [p.name for p in saved] == [f"{library.index.docs[-1].id}.txt"] and saved[0].name.startswith("passwd_")
    assert library.add([("again.txt", NEW_ARTICLE.encode())])[0].status == STATUS["="]  # the same text, another name


def test_a_saved_web_page_is_cited_with_its_date_source_and_link_and_can_be_filtered(library):
    page = (Path(__file__).parent / "fixtures" / "formats" / "tin-ha-noi.html").read_bytes()
    assert library.add([("tin-ha-noi.html", page)])[0].status == STATUS["✓"]
    assert "Báo Thủ Đô Mẫu" in library.sources()
    question = "Hà Nội hỗ trợ Lào Cai bao nhiêu tiền?"
    ans = library.ask(question, 5, "hybrid", {"source": "Báo Thủ Đô Mẫu", "since": "2019-08-01"})
    assert ans.text == "5 tỷ đồng" and {h.source for h in ans.citations} == {"Báo Thủ Đô Mẫu"}
    shown = app.sources(ans, library.index)
    assert "2019-08-12 · Báo Thủ Đô Mẫu" in shown and "href='https://baothudomau.example.vn/" in shown
    assert not library.ask(question, 5, "hybrid", {"until": "2019-01-01"}).citations  # no dated article before
    saved = [p for p in library.settings.uploads_dir().iterdir() if p.suffix == ".html"]
    assert len(saved) == 1 and saved[0].read_bytes() == page  # kept as it came: read again at the next start


def test_a_jsonl_upload_adds_each_of_its_records(library):
    records = [{"id": "hue-1", "text": "Thừa Thiên Huế tặng Quảng Trị 7 tỷ đồng xây trường.", "source": "Báo Huế",
                "category": "Giáo dục"},
               {"text": "Quảng Bình nhận 2 tỷ đồng hỗ trợ làm đường."}]
    data = "\n".join([json.dumps(records[0], ensure_ascii=False), "not json", json.dumps(records[1], ensure_ascii=False)])
    lines = app.added_lines(library.add([("ban-ghi.jsonl", data.encode()), ("rong.jsonl", b"\n")]))
    assert [line[0] for line in lines] == ["✓", "✓", "✗"] and "hue-1" in lines[0] and "không có bản ghi" in lines[2]
    assert library.ask("Thừa Thiên Huế tặng Quảng Trị bao nhiêu tiền?", 5, "hybrid").text == "7 tỷ đồng"
    assert "Giáo dục" in library.categories()  # the page's category filter offers it
    assert {h.doc_id for h in library.ask("tặng bao nhiêu tiền?", 5, "hybrid", {"category": "giáo dục"}).citations} == {"hue-1"}
    reopened = app.Library(library.settings)  # kept as Markdown with front matter: the same documents at a restart
    assert reopened.index.document("hue-1") == library.index.document("hue-1")


def test_document_text_is_shown_as_text(library):
    library.add([("hue.txt", HOSTILE.encode())])
    ans = library.ask("Thừa Thiên Huế tặng Quảng Trị bao nhiêu tiền?", 5, "hybrid")
    assert ans.text == "7 tỷ đồng"
    shown = app.reply(ans) + app.sources(ans, library.index)
    assert "<script" not in shown and "<img" not in shown and "<b>7" not in shown
    assert "&lt;b&gt;" in shown


# -- the running app --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(seed_index, tmp_path_factory):
    """`python app.py` on a free port over a copy of the seed index; yields its address."""
    with app_server(seed_index.path, tmp_path_factory.mktemp("app")) as url:
        yield url


def test_gradio_api_answers_eight_people_at_once(server):
    from gradio_client import Client

    def ask(question):
        return Client(server, verbose=False).predict(question, 5, "hybrid", api_name="/ask")

    questions = [CARD_QUESTION, "Bí thư Tỉnh ủy Vĩnh Phúc là ai?"] * 4
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, questions))
    assert [a["text"] for a in answers] == ["3 tỷ đồng", "Hoàng Thị Thúy Lan"] * 4
    assert all(a["citations"][0]["doc_id"] for a in answers)
    with pytest.raises(Exception, match="the question is empty"):
        ask("   ")
    client = Client(server, verbose=False)
    assert client.predict("x.png", "Hà Nội", api_name="/add") == ["✗ x.png: chỉ nhận tệp .docx, .htm, .html, .md, .pdf, .txt, .jsonl, .jsonl.gz"]
    assert client.predict("../../x.txt", "", api_name="/add") == ["✗ x.txt: tệp rỗng"]


def test_a_person_asks_uploads_and_asks_again_in_chromium(server, tmp_path):
    from playwright import sync_api as pw

    assert os.path.exists(CHROMIUM), "Debian's chromium is missing: make test installs it"
    SHOTS.mkdir(parents=True, exist_ok=True)
    article = tmp_path / "da-nang-ho-tro-quang-nam.txt"
    article.write_text(NEW_ARTICLE, encoding="utf-8")
    timings = {}
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="vi-VN")
        page.goto(server, wait_until="networkidle")  # the page's scripts attached and its load event done
        chat, sources = page.locator("#chat"), page.locator("#sources")
        page.on("console", lambda m: m.type == "error" and print("browser console:", m.text))

        def ask(question, expected):
            page.locator("#question textarea").fill(question)
            t0 = time.perf_counter()
            page.locator("#ask").click()
            chat.get_by_text(expected).last.wait_for(timeout=30_000)
            timings[question] = round(time.perf_counter() - t0, 3)

        try:
            ask(CARD_QUESTION, "3 tỷ đồng")
            pw.expect(sources).to_contain_text("003_82f23e52a0d4abee")
            pw.expect(sources.locator("mark").first).to_have_text("3 tỷ đồng")
            page.screenshot(path=str(SHOTS / "1-answer.png"), full_page=True)
            ask("còn Hà Nam thì sao?", "hiểu là: Hà Nội tặng Hà Nam bao nhiêu tiền?")  # read against the first
            pw.expect(sources).to_contain_text("001_6bf9596543eff144")
            ask("Bí thư Tỉnh ủy Vĩnh Phúc là ai?", "Hoàng Thị Thúy Lan")  # a follow-up: the first answer stays
            pw.expect(chat).to_contain_text("3 tỷ đồng")
            ask("Chủ tịch UBND tỉnh Hưng Yên là ai?", "Không tìm thấy thông tin này trong các bài báo.")
            pw.expect(sources).to_contain_text("Các đoạn gần nhất")
            page.screenshot(path=str(SHOTS / "2-not-found.png"), full_page=True)

            page.get_by_role("tab", name="Thêm tài liệu").click()
            page.locator("#files input[type=file]").set_input_files(str(article))
            pw.expect(page.locator("#files")).to_contain_text(article.stem, timeout=30_000)  # (Gradio 6 sets the suffix apart)
            pw.expect(page.locator("#files")).to_contain_text(re.compile(r"\d\sB"), timeout=30_000)  # uploaded
            page.wait_for_load_state("networkidle")  # and the upload request answered: a click before is lost
            page.locator("#add").click()
            pw.expect(page.locator("#add-status")).to_contain_text("đã thêm", timeout=60_000)
            page.screenshot(path=str(SHOTS / "3-upload.png"), full_page=True)
            page.get_by_role("tab", name="Hỏi đáp").click()
            ask(NEW_QUESTION, "5 tỷ đồng")
            pw.expect(sources).to_contain_text("da-nang-ho-tro-quang-nam_")
            page.screenshot(path=str(SHOTS / "4-new-article.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(SHOTS / "failure.png"), full_page=True)  # what the person saw
            raise
        browser.close()
    (SHOTS / "timings.json").write_text(json.dumps(timings, ensure_ascii=False, indent=1), encoding="utf-8")


def test_a_person_filters_by_date_on_the_page_in_chromium(server):
    """The "Lọc bài báo" controls reach retrieval: a range no article is dated in finds nothing (the seeds are
    undated), a date the filters cannot read or a range that ends before it starts is a warning in
    Vietnamese, and an empty range finds the answer again."""
    from playwright import sync_api as pw

    SHOTS.mkdir(parents=True, exist_ok=True)
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="vi-VN")
        page.goto(server, wait_until="networkidle")
        chat = page.locator("#chat")
        since = page.locator("#since input, #since textarea").first

        def ask(expected):
            page.locator("#question textarea").fill(CARD_QUESTION)
            page.locator("#ask").click()
            chat.get_by_text(expected).last.wait_for(timeout=30_000)

        try:
            page.get_by_text("Lọc bài báo").click()
            since.fill("2030-01-01")
            ask("Không tìm thấy thông tin này trong các bài báo.")
            until = page.locator("#until input, #until textarea").first
            for start, end, says in (("hôm qua", "", "ngày viết dạng 2019-03-15"),
                                     ("2019-06-01", "2019-03-01", "«Từ ngày» ở sau «Đến ngày»")):
                since.fill(start)
                until.fill(end)
                page.locator("#question textarea").fill(CARD_QUESTION)
                page.locator("#ask").click()
                pw.expect(page.get_by_text(says).first).to_be_visible(timeout=30_000)
            since.fill("")
            until.fill("")
            ask("3 tỷ đồng")
            page.screenshot(path=str(SHOTS / "5-filters.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(SHOTS / "failure-filters.png"), full_page=True)
            raise
        browser.close()
