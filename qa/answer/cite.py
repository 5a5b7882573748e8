"""Citations for people and machines: numbered passages with article id, title, date, source, link and exact span."""
from __future__ import annotations

from qa.types import Answer, Hit

NOT_FOUND = "Không tìm thấy thông tin này trong các bài báo."


def citation_line(n: int, hit: Hit, width: int = 220) -> str:
    passage = " ".join(hit.text.split())
    if len(passage) > width:
        passage = passage[: width - 1] + "…"
    about = ", ".join(x for x in (hit.date, hit.source) if x)
    link = f"\n    {hit.url}" if hit.url else ""
    return f"[{n}] {hit.doc_id} — {hit.title}{f' ({about})' if about else ''} [{hit.start}:{hit.end}]{link}\n    {passage}"


def format_answer(ans: Answer) -> str:
    """The answer, the sentence it comes from, and the numbered citations."""
    sure = f" (độ tin cậy {ans.confidence:.0%})" if ans.confidence is not None else ""
    head = f"{ans.text} [1]{sure}\n  « {ans.sentence} »" if ans.found else NOT_FOUND
    cites = "\n".join(citation_line(i, h) for i, h in enumerate(ans.citations, 1))
    label = "Nguồn" if ans.found else "Các đoạn gần nhất"
    out = f"{head}\n\n{label}:\n{cites}" if cites else head
    if ans.generated:
        mark = "đã kiểm chứng với nguồn" if ans.generated_verified else "có ý chưa kiểm chứng được"
        lines = [f"  {s.text}" if s.verified else f"  ⚠ {s.text} (không thấy trong nguồn: {', '.join(s.unsupported)})"
                 for s in ans.generated_sentences]
        out += f"\n\nMô hình viết ({mark}):\n" + "\n".join(lines)
    return out + (f"\n\n({ans.notice})" if ans.notice else "")


def format_hits(hits: list[Hit]) -> str:
    lines = []
    for i, h in enumerate(hits, 1):
        ranks = f"score {h.score:.4f}, bm25 #{h.bm25_rank or '-'}, dense #{h.dense_rank or '-'}"
        lines.append(f"{citation_line(i, h)}\n    ({ranks})")
    return "\n".join(lines) if lines else "(không có kết quả)"
