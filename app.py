"""The chat page: ask the archive in Vietnamese, read cited answers, add articles.

    python app.py [--host 127.0.0.1] [--port 7860] [--index DIR]      (or: make run)

The page, its Gradio API (for gradio_client: "ask", and "add" for one article), the upload tab and the JSON
API under /api (qa/serve/api.py) all go through `qa.serve.library.Library`, which holds the current index and is the one
way to change it.
"""
from __future__ import annotations

import argparse
import hmac
import html
import ipaddress
import logging
import os
import re
import socket
import sys
import threading
from collections import OrderedDict
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no telemetry calls
import gradio as gr  # noqa: E402
import uvicorn  # noqa: E402

import qa  # noqa: E402
from qa.answer.cite import format_answer, plain_markdown
from qa.config import Settings
from qa.index import filters
from qa.index.index import MODES
from qa.index.milvus import MilvusProblem
from qa.index.store import IndexProblem
from qa.intake import corpus, formats
from qa.serve import api
from qa.serve.library import Added, Library
from qa.text.question import check_question
from qa.types import Answer, Document, Hit

EXAMPLES = [
    "Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?",
    "Bí thư Tỉnh ủy Vĩnh Phúc là ai?",
    "Hà Nội và Hòa Bình hợp tác trong những lĩnh vực nào?",
    "ha noi tang vinh phuc bao nhieu tien",
]
MODE_LABELS = {"hybrid": "Kết hợp (BM25 + vector)", "bm25": "BM25 (từ khóa)", "dense": "Vector (ngữ nghĩa)"}
REJECTED = {corpus.BINARY: "tệp nhị phân, không phải văn bản", corpus.NOT_UTF8: "không phải văn bản UTF-8",
            corpus.EMPTY: "tệp rỗng", formats.NO_TEXT_LAYER: "PDF không có lớp chữ (bản quét): cần nhận dạng chữ (OCR) trước",
            formats.NO_ARTICLE: "không tìm thấy nội dung bài báo trong trang",
            corpus.NO_RECORDS: "không có bản ghi nào (mỗi dòng một đối tượng {\"id\", \"title\", \"text\"})"}

log = logging.getLogger("qa")


def added_lines(results: list[Added]) -> list[str]:
    """One Vietnamese line per file: added (with its id and title), already indexed, or refused and why."""
    lines = []
    for r in results:
        if r.status == "added":
            lines.append(f"✓ {r.name}: đã thêm với mã {r.doc_id} — «{r.title}»")
        elif r.status == "duplicate":
            lines.append(f"= {r.name}: đã có trong chỉ mục ({r.doc_id}), không thêm lần nữa")
        else:
            lines.append(f"✗ {r.name}: {_vietnamese(r.reason)}")
    return lines


def _vietnamese(reason: str) -> str:
    if reason.startswith("not a format"):
        return f"chỉ nhận tệp {', '.join(corpus.ACCEPTED)}"
    if m := re.match(r"too large \((.*) MB; at most (.*) MB\)", reason):
        return f"tệp quá lớn ({m.group(1)} MB; tối đa {m.group(2)} MB)"
    return REJECTED.get(reason, reason)


# -- what the page shows ------------------------------------------------------------------------------
def reply(ans: Answer, writing: str | None = None) -> str:
    """The chat message (qa/answer/cite.py): the short answer and its sentence, or "not found"; what a model
    wrote beneath (`writing`: its text so far)."""
    return format_answer(ans, markdown=True, writing=writing)


def sources(ans: Answer | None, idx: qa.Index, context_chars: int = Settings.page_context_chars) -> str:
    """The sources panel (HTML, every piece of document text escaped): one card per article, with its title,
    date, source and a link to the original, and its cited passages beneath (the answer highlighted);
    expanding a passage shows the article around it."""
    if ans is None or not ans.citations:
        return "<p class='qa-empty'>Chưa có nguồn nào.</p>"
    label = "Nguồn" if ans.found else "Các đoạn gần nhất (không đoạn nào trả lời câu hỏi)"
    by_article: dict[str, list[tuple[int, Hit]]] = {}
    for n, hit in enumerate(ans.citations, 1):
        by_article.setdefault(hit.doc_id, []).append((n, hit))
    cards = [_article(idx.document(doc_id), cited, ans.answer_span if ans.found else None, context_chars)
             for doc_id, cited in by_article.items()]
    return f"<div class='qa-sources'><h3>{label}</h3>{''.join(cards)}</div>"


def _article(doc: Document, cited: list[tuple[int, Hit]], span: tuple[int, int] | None, context_chars: int) -> str:
    about = " · ".join(html.escape(x) for x in (doc.date, doc.source) if x)
    link = (f" <a href='{html.escape(doc.url)}' target='_blank' rel='noopener noreferrer'>bài gốc</a>"
            if doc.url.startswith(("http://", "https://")) else "")
    head = (f"<div><b>{html.escape(doc.title)}</b> <code>{html.escape(cited[0][1].doc_id)}</code>"
            f"{' — ' + about if about else ''}{link}</div>")
    passages = "".join(_passage(n, hit, doc, span if n == 1 else None, context_chars) for n, hit in cited)
    return f"<div class='qa-article'>{head}{passages}</div>"


def _passage(n: int, hit: Hit, doc: Document, span: tuple[int, int] | None, context_chars: int) -> str:
    text = doc.text
    if span and hit.start <= span[0] < span[1] <= hit.end:
        passage = (html.escape(text[hit.start:span[0]]) + "<mark>" + html.escape(text[span[0]:span[1]]) + "</mark>"
                   + html.escape(text[span[1]:hit.end]))
    else:
        passage = html.escape(hit.text)
    a, b = max(0, hit.start - context_chars), min(len(text), hit.end + context_chars)
    context = (("…" if a else "") + html.escape(text[a:hit.start]) + f"<strong>{passage}</strong>"
               + html.escape(text[hit.end:b]) + ("…" if b < len(text) else ""))
    return (f"<div class='qa-source' id='source-{n}'><p><b>[{n}]</b> {passage}</p>"
            f"<details><summary>Xem đoạn này trong bài</summary><p class='qa-context'>{context}</p></details></div>")


# -- the page ---------------------------------------------------------------------------------------
CSS = """
.qa-article { border: 1px solid #e0e0e0; border-radius: 6px; padding: 6px 10px; margin: 8px 0; }
.qa-source { border-left: 3px solid #c0c0c0; padding: 4px 10px; margin: 8px 0; }
.qa-source p { white-space: pre-wrap; margin: 4px 0; }
.qa-source mark { background: #ffe27a; padding: 0 2px; }
.qa-context { color: #444; font-size: 0.92em; }
"""


def page(lib: Library) -> gr.Blocks:
    conversations: OrderedDict[str, list[str]] = OrderedDict()  # per browser session: the questions as asked
    turns = threading.Lock()

    def chat(question, history, k, mode, since="", until="", source=None, category=None, request: gr.Request = None):
        """The answer as a chat turn; a follow-up is read against this session's earlier questions (kept here,
        not in a gr.State, whose heartbeat would keep every page's connection busy)."""
        session = getattr(request, "session_hash", None) or ""
        history, asked = list(history or []), conversations.get(session, []) if history else []
        question = (question or "").strip()
        if not question:
            gr.Warning("Hãy nhập một câu hỏi, ví dụ: " + EXAMPLES[0])
            yield history, gr.update(), question
            return
        try:
            events = lib.ask_stream(question, int(k), mode, {"since": since, "until": until, "source": source or None,
                                                             "category": category or None}, asked)
        except MilvusProblem as e:
            gr.Warning(f"Không tìm được trong Milvus: {e}")
            yield history, gr.update(), question
            return
        except filters.ReversedRange:
            gr.Warning("Bộ lọc chưa đúng: «Từ ngày» ở sau «Đến ngày».")
            yield history, gr.update(), question
            return
        except ValueError:  # the one other thing the page's filters can get wrong: a date it cannot read
            gr.Warning("Bộ lọc chưa đúng: ngày viết dạng 2019-03-15 hoặc 15/3/2019.")
            yield history, gr.update(), question
            return
        written, ans, meant, idx = "", None, question, lib.index
        for event in events:  # the reader's answer, then tokens as a model writes them, then the answer
            if "read" in event:
                ans, meant, idx = event["read"], event["read"].question, event["index"]
                rewritten = meant != check_question(question, lib.settings.max_question_chars)  # a follow-up
                shown = plain_markdown(question) + (f"\n\n*(hiểu là: {plain_markdown(meant)})*" if rewritten else "")
                history += [{"role": "user", "content": shown}, {"role": "assistant", "content": reply(ans)}]
            elif "token" in event:
                written += event["token"]
                history[-1]["content"] = reply(ans, written)
                yield history, gr.update(), ""
            else:
                ans = event["answer"]
        history[-1]["content"] = reply(ans)
        with turns:
            conversations[session] = (asked + [meant])[-lib.settings.page_turns:]
            conversations.move_to_end(session)
            while len(conversations) > lib.settings.page_conversations:
                conversations.popitem(last=False)
        yield history, sources(ans, idx, lib.settings.page_context_chars), ""

    def upload(files):
        if not files:
            return "Chưa chọn tệp nào.", count(), gr.update(), gr.update()
        lines = added_lines(lib.add([(getattr(f, "name", f), Path(getattr(f, "name", f)).read_bytes()) for f in files]))
        return ("\n".join(f"- {plain_markdown(line)}" for line in lines), count(), gr.update(choices=lib.sources()),
                gr.update(choices=lib.categories()))

    def count():
        return f"Chỉ mục có **{len(lib.index.docs)}** bài báo, {len(lib.index.chunks)} đoạn."

    def ask_api(question: str, k: int = 5, mode: str = "hybrid") -> dict:
        """The short answer to `question`, its sentence and citations (the same as the chat)."""
        try:
            return lib.ask(question, k, mode).to_dict()
        except ValueError as e:
            raise gr.Error(str(e)) from None

    def add_api(name: str, text: str) -> list[str]:
        """Add one article given as text (`name` gives its id and type: .txt or .md); one line says what
        became of it. The same checks as the upload tab, which also takes web pages, PDFs and Word files."""
        return added_lines(lib.add([(name, text.encode("utf-8"))]))

    with gr.Blocks(title="Hỏi đáp tin tức") as demo:
        gr.Markdown("# Hỏi đáp tin tức tiếng Việt\nĐặt câu hỏi về các bài báo đã lưu; mỗi câu trả lời kèm nguồn để kiểm chứng.")
        with gr.Tab("Hỏi đáp"):
            with gr.Row():
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(label="Trò chuyện", height=460, allow_tags=False, sanitize_html=True,
                                         elem_id="chat")
                    with gr.Row():
                        box = gr.Textbox(placeholder="Ví dụ: " + EXAMPLES[0], show_label=False, scale=5,
                                         elem_id="question", autofocus=True)
                        send = gr.Button("Hỏi", variant="primary", scale=1, elem_id="ask")
                    gr.Examples(EXAMPLES, inputs=box, label="Câu hỏi mẫu")
                    with gr.Accordion("Cài đặt", open=False):
                        k = gr.Slider(1, 10, value=lib.settings.k, step=1, label="Số đoạn nguồn")
                        mode = gr.Radio([(MODE_LABELS[m], m) for m in MODES], value="hybrid", label="Cách tìm")
                    with gr.Accordion("Lọc bài báo", open=False):
                        with gr.Row():
                            since = gr.Textbox(label="Từ ngày", placeholder="2019-03-01", elem_id="since")
                            until = gr.Textbox(label="Đến ngày", placeholder="2019-06-30", elem_id="until")
                        with gr.Row():
                            source = gr.Dropdown(lib.sources(), multiselect=True, label="Nguồn báo", elem_id="source")
                            category = gr.Dropdown(lib.categories(), multiselect=True, label="Chuyên mục",
                                                   elem_id="category")
                    clear = gr.Button("Xóa hội thoại", size="sm")
                with gr.Column(scale=2):
                    panel = gr.HTML(sources(None, lib.index), elem_id="sources")
        with gr.Tab("Thêm tài liệu"):
            gr.Markdown("Tải lên bài báo dạng .txt, .md, trang web đã lưu (.html), PDF có lớp chữ, Word (.docx) hoặc "
                        "tệp bản ghi .jsonl (mỗi dòng một bài), "
                        f"tối đa {lib.settings.max_upload_bytes / 1e6:g} MB mỗi tệp. "
                        "Bài mới được đưa vào chỉ mục ngay, không cần tính lại các bài đã có.")
            files = gr.File(file_count="multiple", file_types=sorted(corpus.SUFFIXES) + [".jsonl", ".gz"], label="Tệp bài báo",
                            elem_id="files")
            add = gr.Button("Thêm vào chỉ mục", variant="primary", elem_id="add")
            status = gr.Markdown(elem_id="add-status")
            total = gr.Markdown(count())
        for event in (box.submit, send.click):
            event(chat, [box, chatbot, k, mode, since, until, source, category], [chatbot, panel, box],
                  api_visibility="private",
                  concurrency_limit=None)
        clear.click(lambda: ([], sources(None, lib.index)), None, [chatbot, panel], api_visibility="private")
        add.click(upload, files, [status, total, source, category], api_visibility="private")
        demo.load(count, None, total, api_visibility="private")  # another tab may have added articles
        gr.api(ask_api, api_name="ask", concurrency_limit=None)
        gr.api(add_api, api_name="add", concurrency_limit=1)
    return demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Vietnamese news Q&A chat page and JSON API (/api/docs).")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1; QA_HOST)")
    parser.add_argument("--port", type=int, help="port (default 7860; QA_PORT)")
    parser.add_argument("--index", type=Path, help="index folder (default index/default; QA_INDEX_DIR)")
    parser.add_argument("--insecure", action="store_true", help="listen beyond this machine without a key")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    try:
        settings = Settings.from_env(host=args.host, port=args.port, index_dir=args.index)
        keys = api.keys(settings)
        if not keys and not args.insecure and not _loopback(settings.host):
            raise ValueError(f"refusing to listen on {settings.host} without a key: set QA_API_KEY (or "
                             "QA_API_KEYS_FILE), or start with --insecure")
        lib = Library(settings)
        lib.index.ask(EXAMPLES[0])  # load the models now: the first person asking should not wait for them
    except (ValueError, IndexProblem) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    server = api.create(lib)
    login = (lambda user, password: any(hmac.compare_digest(password, k) for k in keys)) if keys else None
    gr.mount_gradio_app(server, page(lib), path="/", auth=login, auth_message="Nhập khóa truy cập (mật khẩu).",
                        css=CSS, footer_links=["api"], show_error=True, max_file_size=10 * settings.max_upload_bytes)
    print(f"Hỏi đáp tin tức: http://{settings.host}:{settings.port} — API: /api/docs "
          f"({len(lib.index.docs)} bài báo, {len(lib.index.chunks)} đoạn{', cần khóa' if keys else ''})", flush=True)
    try:
        uvicorn.run(server, host=settings.host, port=settings.port, log_level="warning")
    except (OSError, SystemExit) as e:
        print(f"error: cannot listen on {settings.host}:{settings.port} ({e})", file=sys.stderr)
        return 2
    return 0


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


if __name__ == "__main__":
    sys.exit(main())
