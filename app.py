"""The chat page: ask the archive in Vietnamese, read cited answers, add articles.

    python app.py [--host 127.0.0.1] [--port 7860] [--index DIR]      (or: make run)

The page, its API (for gradio_client: "ask", and "add" for one article) and the upload tab all go through
`Library`, which holds the current index. Adding documents builds a new index beside it (only the new
articles are embedded), saves it, then swaps it in, so people asking meanwhile are never answered from a
half-updated index.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import html
import logging
import os
import re
import sys
import tempfile
import threading
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no telemetry calls
import gradio as gr  # noqa: E402

import qa  # noqa: E402
from qa import corpus, formats
from qa.cite import NOT_FOUND
from qa.config import Settings
from qa.index import MODES, IndexProblem, read_manifest, writer_lock
from qa.normalise import fold
from qa.types import Answer, Document, Hit

EXAMPLES = [
    "Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?",
    "Bí thư Tỉnh ủy Vĩnh Phúc là ai?",
    "Hà Nội và Hòa Bình hợp tác trong những lĩnh vực nào?",
    "ha noi tang vinh phuc bao nhieu tien",
]
MODE_LABELS = {"hybrid": "Kết hợp (BM25 + vector)", "bm25": "BM25 (từ khóa)", "dense": "Vector (ngữ nghĩa)"}
CONTEXT_CHARS = 600  # of the article shown around a passage when it is expanded
REJECTED = {corpus.BINARY: "tệp nhị phân, không phải văn bản", corpus.NOT_UTF8: "không phải văn bản UTF-8",
            corpus.EMPTY: "tệp rỗng", formats.NO_TEXT_LAYER: "PDF không có lớp chữ (bản quét): cần nhận dạng chữ (OCR) trước",
            formats.NO_ARTICLE: "không tìm thấy nội dung bài báo trong trang"}
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<])")

log = logging.getLogger("qa")


class Library:
    """The index the page answers from, and the one way to add documents to it."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.index = qa.open_index(settings)
        self._adding = threading.Lock()

    def ask(self, question: str, k: int, mode: str, filters: dict | None = None) -> Answer:
        return self.index.ask(question, int(k), mode, filters)

    def sources(self) -> list[str]:
        """The newspapers and sites the indexed articles name, for the page's filter."""
        return sorted({d.source for d in self.index.docs if d.source})

    def add(self, files: list[tuple[str, bytes]]) -> list[str]:
        """Index (name, content) uploads; one Vietnamese line per file (plain text) says what became of it."""
        path = self.index.path or self.settings.index_dir
        with self._adding, writer_lock(path):
            idx = self.index
            if read_manifest(path) not in (None, idx.manifest):  # another process published meanwhile
                idx = self.index = qa.load(path, self.settings)
            known = {_digest(d.text): d.id for d in idx.docs}
            folder = self.settings.uploads_dir()
            lines, docs, written = [], [], []
            for name, data in files:
                shown = Path(name).name
                try:
                    doc = self._accept(name, data)
                except ValueError as e:
                    lines.append(f"✗ {shown}: {e}")
                    continue
                if _digest(doc.text) in known:
                    lines.append(f"= {shown}: đã có trong chỉ mục ({known[_digest(doc.text)]}), không thêm lần nữa")
                    continue
                known[_digest(doc.text)] = doc.id
                folder.mkdir(parents=True, exist_ok=True)
                written.append(folder / f"{doc.id}{Path(name).suffix.lower()}")
                _write_atomic(written[-1], data)  # first: a crash after this still leaves the article kept
                docs.append(doc)
                lines.append(f"✓ {shown}: đã thêm với mã {doc.id} — «{doc.title}»")
            if docs:
                try:
                    new = idx.add(docs)
                    new.save(path, lock=False)
                except Exception:
                    for upload in written:  # not indexed now: it must not appear at the next restart either
                        upload.unlink(missing_ok=True)
                    raise
                self.index = new
            return lines

    def _accept(self, name: str, data: bytes) -> Document:
        """The upload as a document, or ValueError saying in Vietnamese why it is refused. The file name only
        gives the id (letters, digits, '-' and '_'; never used as a path) and the suffix."""
        suffix = Path(name).suffix.lower()
        if suffix not in corpus.SUFFIXES:
            raise ValueError(f"chỉ nhận tệp {', '.join(sorted(corpus.SUFFIXES))}")
        if len(data) > self.settings.max_upload_bytes:
            raise ValueError(f"tệp quá lớn ({len(data) / 1e6:.1f} MB; tối đa {self.settings.max_upload_bytes / 1e6:g} MB)")
        try:
            fields = corpus.read_upload(name, data, self.settings.parse_seconds)
        except ValueError as e:
            raise ValueError(REJECTED.get(str(e), str(e))) from None
        doc = corpus.make_document("", **fields)
        stem = re.sub(r"[^a-z0-9_-]+", "-", fold(Path(name).stem)).strip("-")[:60] or "tai-lieu"
        return dataclasses.replace(doc, id=f"{stem}_{_digest(doc.text)[:12]}")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    """The upload as it came (re-read at the next start by its format's reader, as any file of the folder)."""
    fd, tmp = tempfile.mkstemp(prefix=".upload.", dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# -- what the page shows ------------------------------------------------------------------------------
def _plain(text: str) -> str:
    """Document text for Markdown: shown as written, never interpreted as HTML or Markdown."""
    return _MARKDOWN.sub(r"\\\1", html.escape(" ".join(text.split()), quote=False))


def reply(ans: Answer) -> str:
    """The chat message: the short answer with its marker and sentence, or "not found"."""
    if not ans.found:
        return f"{NOT_FOUND}\n\nCác đoạn gần nhất vẫn được liệt kê ở phần Nguồn." if ans.citations else NOT_FOUND
    others = " ".join(f"[{i}]" for i in range(2, len(ans.citations) + 1))
    sure = f" (độ tin cậy {ans.confidence:.0%})" if ans.confidence is not None else ""
    return (f"**{_plain(ans.text)}** [1]{sure}\n\n> {_plain(ans.sentence)}\n\n"
            f"Nguồn: [1] {_plain(ans.citations[0].title)} ({ans.citations[0].doc_id})"
            + (f"; các đoạn liên quan {others}" if others else ""))


def sources(ans: Answer | None, idx: qa.Index) -> str:
    """The sources panel (HTML, every piece of document text escaped): one card per article, with its title,
    date, source and a link to the original, and its cited passages beneath (the answer highlighted);
    expanding a passage shows the article around it."""
    if ans is None or not ans.citations:
        return "<p class='qa-empty'>Chưa có nguồn nào.</p>"
    label = "Nguồn" if ans.found else "Các đoạn gần nhất (không đoạn nào trả lời câu hỏi)"
    by_article: dict[str, list[tuple[int, Hit]]] = {}
    for n, hit in enumerate(ans.citations, 1):
        by_article.setdefault(hit.doc_id, []).append((n, hit))
    cards = [_article(idx.document(doc_id), cited, ans.answer_span if ans.found else None)
             for doc_id, cited in by_article.items()]
    return f"<div class='qa-sources'><h3>{label}</h3>{''.join(cards)}</div>"


def _article(doc: Document, cited: list[tuple[int, Hit]], span: tuple[int, int] | None) -> str:
    about = " · ".join(html.escape(x) for x in (doc.date, doc.source) if x)
    link = (f" <a href='{html.escape(doc.url)}' target='_blank' rel='noopener noreferrer'>bài gốc</a>"
            if doc.url.startswith(("http://", "https://")) else "")
    head = (f"<div><b>{html.escape(doc.title)}</b> <code>{html.escape(cited[0][1].doc_id)}</code>"
            f"{' — ' + about if about else ''}{link}</div>")
    passages = "".join(_passage(n, hit, doc, span if n == 1 else None) for n, hit in cited)
    return f"<div class='qa-article'>{head}{passages}</div>"


def _passage(n: int, hit: Hit, doc: Document, span: tuple[int, int] | None) -> str:
    text = doc.text
    if span and hit.start <= span[0] < span[1] <= hit.end:
        passage = (html.escape(text[hit.start:span[0]]) + "<mark>" + html.escape(text[span[0]:span[1]]) + "</mark>"
                   + html.escape(text[span[1]:hit.end]))
    else:
        passage = html.escape(hit.text)
    a, b = max(0, hit.start - CONTEXT_CHARS), min(len(text), hit.end + CONTEXT_CHARS)
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
    def chat(question, history, k, mode, since="", until="", source=None):
        history = list(history or [])
        question = (question or "").strip()
        if not question:
            gr.Warning("Hãy nhập một câu hỏi, ví dụ: " + EXAMPLES[0])
            return history, gr.update(), question
        idx = lib.index
        try:
            ans = idx.ask(question, int(k), mode, {"since": since, "until": until, "source": source or None})
        except ValueError as e:  # a date the filters cannot read
            gr.Warning(f"Bộ lọc chưa đúng: {e}. Ngày viết dạng 2019-03-15 hoặc 15/3/2019.")
            return history, gr.update(), question
        history += [{"role": "user", "content": _plain(question)}, {"role": "assistant", "content": reply(ans)}]
        return history, sources(ans, idx), ""

    def upload(files):
        if not files:
            return "Chưa chọn tệp nào.", count(), gr.update()
        lines = lib.add([(getattr(f, "name", f), Path(getattr(f, "name", f)).read_bytes()) for f in files])
        return "\n".join(f"- {_plain(line)}" for line in lines), count(), gr.update(choices=lib.sources())

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
        return lib.add([(name, text.encode("utf-8"))])

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
                        source = gr.Dropdown(lib.sources(), multiselect=True, label="Nguồn báo", elem_id="source")
                    clear = gr.Button("Xóa hội thoại", size="sm")
                with gr.Column(scale=2):
                    panel = gr.HTML(sources(None, lib.index), elem_id="sources")
        with gr.Tab("Thêm tài liệu"):
            gr.Markdown("Tải lên bài báo dạng .txt, .md, trang web đã lưu (.html), PDF có lớp chữ hoặc Word (.docx), "
                        f"tối đa {lib.settings.max_upload_bytes / 1e6:g} MB mỗi tệp. "
                        "Bài mới được đưa vào chỉ mục ngay, không cần tính lại các bài đã có.")
            files = gr.File(file_count="multiple", file_types=sorted(corpus.SUFFIXES), label="Tệp bài báo",
                            elem_id="files")
            add = gr.Button("Thêm vào chỉ mục", variant="primary", elem_id="add")
            status = gr.Markdown(elem_id="add-status")
            total = gr.Markdown(count())
        for event in (box.submit, send.click):
            event(chat, [box, chatbot, k, mode, since, until, source], [chatbot, panel, box], api_visibility="private",
                  concurrency_limit=None)
        clear.click(lambda: ([], sources(None, lib.index)), None, [chatbot, panel], api_visibility="private")
        add.click(upload, files, [status, total, source], api_visibility="private")
        demo.load(count, None, total, api_visibility="private")  # another tab may have added articles
        gr.api(ask_api, api_name="ask", concurrency_limit=None)
        gr.api(add_api, api_name="add", concurrency_limit=1)
    return demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Vietnamese news Q&A chat page.")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1; QA_HOST)")
    parser.add_argument("--port", type=int, help="port (default 7860; QA_PORT)")
    parser.add_argument("--index", type=Path, help="index folder (default index/default; QA_INDEX_DIR)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    try:
        settings = Settings.from_env(host=args.host, port=args.port, index_dir=args.index)
        lib = Library(settings)
        lib.index.ask(EXAMPLES[0])  # load the models now: the first person asking should not wait for them
    except (ValueError, IndexProblem) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    demo = page(lib)
    print(f"Hỏi đáp tin tức: http://{settings.host}:{settings.port} "
          f"({len(lib.index.docs)} bài báo, {len(lib.index.chunks)} đoạn)", flush=True)
    try:
        demo.launch(server_name=settings.host, server_port=settings.port, max_file_size=10 * settings.max_upload_bytes,
                    css=CSS, footer_links=["api"], show_error=True, quiet=True)
    except OSError as e:
        print(f"error: cannot listen on {settings.host}:{settings.port} ({e})", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
