"""Generated answers from a language model the user runs, checked against the passages they cite.

Off unless `Settings.llm_url` names an OpenAI-compatible server (vLLM, Ollama, llama.cpp, a hosted API);
the `openai` client talks to it. The extractive answer is computed first and stays the answer: the model
writes from the top citations, numbered [1]…[k], and every sentence it writes is checked (qa/answer/check.py).
Whatever goes wrong (the server down, too slow, an HTTP error, empty or malformed output) leaves the
extractive answer with a one-line `notice`; an answer cut at the token limit (a model that never stops) is
kept beneath it, checked, never as verified, with the notice. A server that failed is not asked
again for `llm_backoff_seconds`, so a dead one costs one timeout, not one per question.
"""
from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from qa.answer import check
from qa.config import Settings
from qa.types import Answer, Hit

PROMPT = """Trả lời câu hỏi chỉ bằng thông tin trong các đoạn trích bài báo dưới đây.
Quy tắc:
- Chỉ dùng các đoạn trích; không thêm điều gì khác.
- Sau mỗi ý, ghi số của đoạn trích làm nguồn trong ngoặc vuông, ví dụ [1] hoặc [2].
- Nếu các đoạn trích không trả lời được câu hỏi, chỉ viết: {not_found}.
- Trả lời ngắn gọn, bằng tiếng Việt.

{passages}
{extractive}
Câu hỏi: {question}
Trả lời:"""

REQUEST_ERRORS = {400, 404, 413, 422}  # HTTP statuses that fault the request, not the server
_clients: dict[tuple, object] = {}
_down_until: dict[str, float] = {}  # server URL -> when to try it again
_lock = threading.Lock()


def messages(question: str, hits: list[Hit], ans: Answer) -> list[dict]:
    """The chat request: the rules, the numbered passages with title, date and source, the extractive
    answer when there is one, the question (one user turn: some models' templates know no system role)."""
    passages = "\n\n".join(f"[{i}] {h.title} ({h.date or 'không rõ ngày'}; {h.source or 'không rõ nguồn'})\n{h.text.strip()}"
                           for i, h in enumerate(hits, 1))
    extractive = f"\nCâu trả lời trích được từ đoạn [1]: {ans.text}\n" if ans.found else ""
    return [{"role": "user", "content": PROMPT.format(not_found=check.NOT_FOUND, passages=passages,
                                                      extractive=extractive, question=question)}]


def stream(settings: Settings, question: str, ans: Answer) -> Iterator[dict]:
    """{"token": text} as the model writes, then {"answer": Answer} with `generated`, its check and any
    notice; only the answer when no model is set."""
    if not settings.llm_url:
        yield {"answer": ans}
        return
    wait = resting_seconds(settings)
    if wait > 0:
        yield {"answer": dataclasses.replace(ans, notice=f"Máy chủ mô hình vừa không trả lời; sẽ thử lại sau {wait:.0f} giây.")}
        return
    hits = ans.citations[:settings.llm_passages]
    if not hits:
        yield {"answer": ans}
        return
    parts, finish, notice = [], None, ""
    deadline = time.monotonic() + settings.llm_timeout
    try:
        response = client(settings).chat.completions.create(
            model=settings.llm_model, messages=messages(question, hits, ans), stream=True,
            max_tokens=settings.llm_max_tokens, temperature=0)
        with response:
            for chunk in response:
                if time.monotonic() > deadline:
                    raise TimeoutError  # streaming, but past the time allowed for the whole answer
                if not chunk.choices:
                    continue
                finish = chunk.choices[0].finish_reason or finish
                if token := chunk.choices[0].delta.content or "":
                    parts.append(token)
                    yield {"token": token}
    except Exception as e:  # noqa: BLE001 - every failure of the model leaves the extractive answer
        notice = failure(settings, e)
    text = "".join(parts).strip()
    if not notice and not text:
        notice = "Mô hình trả về câu trả lời rỗng; xem câu trả lời trích dẫn."
    if notice:
        yield {"answer": dataclasses.replace(ans, notice=notice)}
        return
    with _lock:
        _down_until.pop(settings.llm_url, None)
    sentences = check.check(text, [f"{h.title}\n{h.date}\n{h.source}\n{h.text}" for h in hits])  # what the model was shown
    quiet, cut = check.says_not_found(text), finish == "length"
    if cut:  # what it wrote is shown, checked, never as verified: it did not finish
        notice = f"Câu trả lời của mô hình bị cắt ở {settings.llm_max_tokens} token; xem câu trả lời trích dẫn."
    elif quiet and ans.found:
        notice = "Mô hình không tìm thấy câu trả lời trong các đoạn trích; câu trả lời trích dẫn ở trên."
    verified = any(s.citations for s in sentences) and all(s.verified for s in sentences) and not quiet and not cut
    yield {"answer": dataclasses.replace(ans, generated=text, generated_verified=verified,
                                         generated_sentences=sentences, notice=notice)}


def resting_seconds(settings: Settings) -> float:
    """Seconds until the server may be asked again after a failure (≤ 0: now)."""
    with _lock:
        return _down_until.get(settings.llm_url, 0) - time.monotonic()


def rest(url: str, seconds: float) -> None:
    """Ask the server at `url` nothing for `seconds` (as after a failure)."""
    with _lock:
        _down_until[url] = time.monotonic() + seconds


def forget_failures() -> None:
    """Every server may be asked again now."""
    with _lock:
        _down_until.clear()


def available(settings: Settings) -> bool:
    """Whether a model is set and not resting after a failure."""
    return bool(settings.llm_url) and resting_seconds(settings) <= 0


def answer(settings: Settings, question: str, ans: Answer) -> Answer:
    """`stream` to its end: the answer with what the model wrote."""
    for event in stream(settings, question, ans):
        if "answer" in event:
            return event["answer"]
    return ans


def api_key(settings: Settings) -> str:
    """The server's key: `llm_api_key`, else the first line of `llm_api_key_file` ("" for none)."""
    if settings.llm_api_key or not settings.llm_api_key_file:
        return settings.llm_api_key
    try:
        return Path(settings.llm_api_key_file).expanduser().read_text(encoding="utf-8").strip().splitlines()[0]
    except (OSError, IndexError):
        raise ValueError(f"cannot read a key from QA_LLM_API_KEY_FILE {settings.llm_api_key_file}") from None


def client(settings: Settings):
    """One `openai` client per server, key and timeout (no retries: a failure is a notice and a back-off)."""
    import openai

    key = (settings.llm_url, api_key(settings), settings.llm_timeout)
    with _lock:
        if key not in _clients:
            _clients[key] = openai.OpenAI(base_url=settings.llm_url, api_key=key[1] or "none",
                                          timeout=settings.llm_timeout, max_retries=0)
        return _clients[key]


def failure(settings: Settings, e: Exception) -> str:
    """The notice for a failed request; the server is then left alone for a while, unless the request itself
    was refused (400, 404, 413, 422: too long a prompt, say), which says nothing of the next one."""
    try:
        import openai
    except ImportError:
        openai = None
    if openai is None or getattr(e, "status_code", None) not in REQUEST_ERRORS:
        rest(settings.llm_url, settings.llm_backoff_seconds)
    if openai is None:
        return "Generated answers need the openai client: pip install -e '.[llm]'; xem câu trả lời trích dẫn."
    if isinstance(e, (openai.APITimeoutError, TimeoutError)):
        why = f"Máy chủ mô hình không trả lời kịp trong {settings.llm_timeout:g} giây"
    elif isinstance(e, openai.APIConnectionError):
        why = f"Không kết nối được máy chủ mô hình ở {re.sub(r'//[^/@]*@', '//', settings.llm_url)}"  # no user:password
    elif isinstance(e, openai.APIStatusError):
        why = f"Máy chủ mô hình báo lỗi HTTP {e.status_code}"
    elif isinstance(e, ValueError) and "QA_LLM_API_KEY_FILE" in str(e):
        why = str(e)
    else:
        why = "Máy chủ mô hình trả lời sai định dạng"
    return f"{why}; xem câu trả lời trích dẫn."
