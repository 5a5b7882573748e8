"""Citations for people and machines: numbered passages with article id, title, date, source, link and exact span."""
from __future__ import annotations

import html
import re

from qa.types import Answer, Hit

NOT_FOUND = "Không tìm thấy thông tin này trong các bài báo."
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<])")  # characters Markdown reads


def citation_line(n: int, hit: Hit, width: int = 220) -> str:
    passage = " ".join(hit.text.split())
    if len(passage) > width:
        passage = passage[: width - 1] + "…"
    about = ", ".join(x for x in (hit.date, hit.source) if x)
    link = f"\n    {hit.url}" if hit.url else ""
    return f"[{n}] {hit.doc_id} — {hit.title}{f' ({about})' if about else ''} [{hit.start}:{hit.end}]{link}\n    {passage}"


def format_answer(ans: Answer, markdown: bool = False, writing: str | None = None) -> str:
    """The answer, the sentence it comes from and its citations, then what a language model wrote (each
    sentence it could not check marked) and any notice. As plain text with every citation in full (the CLI),
    or as Markdown (the page, whose sources panel shows the citations in full) with document text escaped;
    `writing` is the model's text so far, while it writes."""
    say, bold = (plain_markdown, lambda t: f"**{t}**") if markdown else (str, str)
    sure = f" (độ tin cậy {ans.confidence:.0%})" if ans.confidence is not None else ""
    if markdown and ans.found:
        others = " ".join(f"[{i}]" for i in range(2, len(ans.citations) + 1))
        out = (f"**{say(ans.text)}** [1]{sure}\n\n> {say(ans.sentence)}\n\nNguồn: [1] {say(ans.citations[0].title)} "
               f"({ans.citations[0].doc_id})" + (f"; các đoạn liên quan {others}" if others else ""))
    elif markdown:
        out = NOT_FOUND + ("\n\nCác đoạn gần nhất vẫn được liệt kê ở phần Nguồn." if ans.citations else "")
    else:
        out = f"{ans.text} [1]{sure}\n  « {ans.sentence} »" if ans.found else NOT_FOUND
        cites = "\n".join(citation_line(i, h) for i, h in enumerate(ans.citations, 1))
        out += f"\n\n{'Nguồn' if ans.found else 'Các đoạn gần nhất'}:\n{cites}" if cites else ""
    rule, gap, indent = ("\n\n---\n", "\n\n", "") if markdown else ("\n\n", "\n", "  ")
    if writing is not None:
        return out + f"{rule}{bold('Mô hình đang viết…')}{gap}{say(writing)}"
    if ans.generated:
        mark = "đã kiểm chứng với nguồn" if ans.generated_verified else \
            "có ý chưa kiểm chứng được" + (" với nguồn" if markdown else "")
        where = "không thấy trong nguồn" + (" được dẫn" if markdown else "")
        lines = [indent + (say(x.text) if x.verified else
                           f"⚠ {say(x.text)} " + _aside(f"{where}: {say(', '.join(x.unsupported))}", markdown))
                 for x in ans.generated_sentences]
        out += f"{rule}{bold('Mô hình viết')} ({mark}):{gap}" + gap.join(lines)
    if ans.notice:
        out += f"\n\n*{say(ans.notice)}*" if markdown else f"\n\n({ans.notice})"
    return out


def _aside(text: str, markdown: bool) -> str:
    return f"*({text})*" if markdown else f"({text})"


def plain_markdown(text: str) -> str:
    """Document text for Markdown: shown as written, never read as HTML or Markdown."""
    return _MARKDOWN.sub(r"\\\1", html.escape(" ".join(text.split()), quote=False))


def format_hits(hits: list[Hit]) -> str:
    lines = []
    for i, h in enumerate(hits, 1):
        ranks = f"score {h.score:.4f}, bm25 #{h.bm25_rank or '-'}, dense #{h.dense_rank or '-'}"
        lines.append(f"{citation_line(i, h)}\n    ({ranks})")
    return "\n".join(lines) if lines else "(không có kết quả)"
