"""Generated answers against a real OpenAI-compatible server (llama.cpp's llama-server with Gemma 3 270M, started
and stopped here): the protocol, streaming, the check's flags, follow-ups rewritten by the model, and every
fault (down, slow, HTTP 4xx, malformed or empty output, the token limit) leaving the extractive answer with
a one-line notice. The model is tiny and its Vietnamese poor: these tests check the protocol, not the prose."""
from __future__ import annotations

import dataclasses
import http.server
import json
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness import llmserver
from qa.answer import followup, generate
from qa.text.normalise import fold

from .conftest import CARD_QUESTION, app_server, free_port

KEY = "khoa-bi-mat-123"


@pytest.fixture(scope="module")
def llm_log(tmp_path_factory) -> Path:
    """Where the model server writes its log, an access line for every request it answered included."""
    return tmp_path_factory.mktemp("llm") / "server.log"


@pytest.fixture(scope="module")
def llm(llm_log):
    with llmserver.local(api_key=KEY, log=llm_log) as url:
        yield url


def answered(log: Path, at_least: int = 0) -> int:
    """How many completions the server has finished (llama-server logs each one's timings, ending with its
    "total time"), waiting a little for its log to reach `at_least`."""
    deadline = time.monotonic() + 10
    while (n := log.read_text(encoding="utf-8").count("total time =")) < at_least:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return n


@pytest.fixture(autouse=True)
def no_backoff():
    """Each test starts with no server marked as down."""
    generate.forget_failures()
    yield
    generate.forget_failures()


def _with(idx, **settings):
    settings = {"llm_api_key": KEY, "llm_passages": 2, "llm_max_tokens": 96, **settings}
    return dataclasses.replace(idx, settings=dataclasses.replace(idx.settings, **settings))


def test_the_model_writes_from_the_citations_and_each_sentence_is_checked(seed_index, llm):
    ans = _with(seed_index, llm_url=llm).ask(CARD_QUESTION)
    assert ans.text == "3 tỷ đồng" and ans.found  # the extractive answer stays
    assert ans.generated and ans.generated_sentences, ans.notice
    assert " ".join(s.text for s in ans.generated_sentences).split() == ans.generated.split()
    assert all(s.verified == (not s.unsupported) for s in ans.generated_sentences)
    cut = "bị cắt ở 96 token" in ans.notice
    assert ans.generated_verified == (not cut and all(s.verified for s in ans.generated_sentences))
    assert KEY not in json.dumps(ans.to_dict(), ensure_ascii=False)


def test_tokens_stream_before_the_answer(seed_index, llm):
    events = list(_with(seed_index, llm_url=llm, llm_max_tokens=24).ask_stream(CARD_QUESTION))
    tokens = [e["token"] for e in events if "token" in e]
    assert len(tokens) >= 2 and "answer" in events[-1] and all("token" in e for e in events[:-1])
    final = events[-1]["answer"]
    assert final.text == "3 tỷ đồng" and final.generated == "".join(tokens).strip() != ""  # the model's, whole
    assert " ".join(s.text for s in final.generated_sentences).split() == final.generated.split()  # all checked


def test_the_json_api_streams_server_sent_events(seed_index, llm, llm_log, tmp_path):
    with app_server(seed_index.path, tmp_path, QA_LLM_URL=llm, QA_LLM_API_KEY=KEY, QA_LLM_MAX_TOKENS="24",
                    QA_LLM_PASSAGES="2", QA_FOLLOWUP_REWRITE_SECONDS="120") as url:
        before = answered(llm_log)
        body = json.dumps({"question": "còn Hà Nam thì sao?", "history": [CARD_QUESTION], "stream": True}).encode()
        request = urllib.request.Request(url + "api/ask", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=300) as r:
            assert r.headers["Content-Type"].startswith("text/event-stream")
            raw = r.read().decode("utf-8")
    events = [(block.split("\n")[0].removeprefix("event: "), json.loads(block.split("\n")[1].removeprefix("data: ")))
              for block in raw.strip().split("\n\n")]
    assert [name for name, _ in events[:-1]] == ["token"] * (len(events) - 1) and events[-1][0] == "answer"
    assert len(events) > 1, events  # the model wrote something
    final = events[-1][1]
    assert final["generated"] == "".join(data["text"] for _, data in events[:-1]).strip() != ""
    assert answered(llm_log, before + 2) == before + 2  # the follow-up's rewrite, then the answer
    assert final["question"] != "còn Hà Nam thì sao?" and "Hà Nam" in final["question"]  # asked as a whole question
    assert final["text"] == "3 tỷ đồng" and {"generated", "generated_verified", "generated_sentences", "notice"} <= set(final)
    assert KEY not in raw


def test_a_follow_up_is_rewritten_by_the_model_or_by_the_rule(seed_index, llm, llm_log):
    """The model is asked and answers in time (its reply is used only if it keeps the follow-up's subject and is
    not the earlier question again: Gemma 270M repeats the earlier question, so the rule's rewrite is used)."""
    s = dataclasses.replace(seed_index.settings, llm_url=llm, llm_api_key=KEY, followup_rewrite_seconds=120,
                            llm_timeout=120)  # a cold first request on two shared cores can take 15 s
    before = answered(llm_log)
    asked = followup.rewrite("còn Hà Nam thì sao?", [CARD_QUESTION], s)
    assert answered(llm_log, before + 1) == before + 1 and generate.available(s)  # asked, answered, no failure
    assert "ha nam" in fold(asked) and fold(asked) != fold(CARD_QUESTION) and 3 <= len(asked) <= s.max_question_chars
    down = dataclasses.replace(s, llm_url=f"http://127.0.0.1:{free_port()}/v1")
    assert followup.rewrite("còn Hà Nam thì sao?", [CARD_QUESTION], down) == "Hà Nội tặng Hà Nam bao nhiêu tiền?"


def test_a_wrong_key_is_an_http_error_notice(seed_index, llm):
    ans = _with(seed_index, llm_url=llm, llm_api_key="sai").ask(CARD_QUESTION)
    assert ans.text == "3 tỷ đồng" and ans.generated == "" and "HTTP 401" in ans.notice


def test_the_token_limit_keeps_the_extractive_answer_and_never_verifies(seed_index, llm):
    ans = _with(seed_index, llm_url=llm, llm_max_tokens=2).ask(CARD_QUESTION)
    assert ans.text == "3 tỷ đồng" and "bị cắt ở 2 token" in ans.notice and not ans.generated_verified


def test_too_slow_is_one_timeout_then_a_pause(seed_index, llm):
    slow = _with(seed_index, llm_url=llm, llm_timeout=0.05)
    ans = slow.ask(CARD_QUESTION)
    assert ans.text == "3 tỷ đồng" and "không trả lời kịp" in ans.notice
    assert generate.resting_seconds(slow.settings) > 0  # not asked again for a while
    assert "sẽ thử lại sau" in slow.ask(CARD_QUESTION).notice


def test_a_server_that_is_down_costs_one_try(seed_index):
    url = f"http://127.0.0.1:{free_port()}/v1"
    idx = _with(seed_index, llm_url=url, llm_backoff_seconds=600)
    first, second = idx.ask(CARD_QUESTION), idx.ask(CARD_QUESTION)
    assert first.text == second.text == "3 tỷ đồng"
    assert "Không kết nối được máy chủ mô hình" in first.notice and "sẽ thử lại sau" in second.notice


class _Odd(http.server.BaseHTTPRequestHandler):
    """Answers chat completions with `body` (set per test): what a broken proxy, or a model, might send."""

    body, status = b"", 200

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(self.status)
        self.send_header("Content-Type", "text/event-stream" if self.status == 200 else "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@contextmanager
def _sending(body: bytes, status: int = 200):
    """A server on 127.0.0.1 that answers every chat completion with `body`; its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Odd,), {"body": body, "status": status}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1"
    finally:
        server.shutdown()


@pytest.mark.parametrize("body, says", [
    (b"data: {not json\n\n", "sai định dạng"),
    (b'data: {"id":"x","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,'
     b'"delta":{"content":""},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n', "rỗng"),
], ids=["malformed", "empty"])
def test_malformed_or_empty_output_is_a_notice(seed_index, body, says):
    with _sending(body) as url:
        ans = _with(seed_index, llm_url=url).ask(CARD_QUESTION)
    assert ans.text == "3 tỷ đồng" and ans.generated == "" and says in ans.notice, ans.notice


def _chunks(*texts: str) -> bytes:
    """An OpenAI chat-completion stream of `texts` that ends normally."""
    head = '{"id":"x","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":'
    parts = [f'data: {head}{{"content":{json.dumps(t)}}},"finish_reason":null}}]}}\n\n' for t in texts]
    return ("".join(parts) + f'data: {head}{{}},"finish_reason":"stop"}}]}}\n\ndata: [DONE]\n\n').encode()


@pytest.mark.parametrize("written, verified, says", [
    (["Hà Nội tặng Vĩnh Phúc ", "3 tỷ đồng [1]."], True, ""),  # what a good model writes
    (["Hà Nội tặng Vĩnh Phúc ", "5 tỷ đồng [1]."], False, ""),  # a figure the passage does not hold
    (["Không tìm thấy."], False, "Mô hình không tìm thấy câu trả lời"),  # both shown: the reader found one
], ids=["right", "wrong-figure", "not-found"])
def test_what_a_model_writes_is_checked_end_to_end(seed_index, written, verified, says):
    with _sending(_chunks(*written)) as url:
        ans = _with(seed_index, llm_url=url).ask(CARD_QUESTION)
    assert ans.text == "3 tỷ đồng" and ans.generated == "".join(written) and ans.generated_verified is verified
    assert (says in ans.notice) if says else ans.notice == ""


def test_a_refused_request_is_a_notice_and_no_pause_for_the_others(seed_index):
    """A 400 (a prompt too long for the model's context, say) faults that request, not the server."""
    with _sending(b'{"error": {"message": "context too long", "type": "invalid_request_error"}}', 400) as url:
        ans = _with(seed_index, llm_url=url).ask(CARD_QUESTION)
        assert ans.text == "3 tỷ đồng" and "HTTP 400" in ans.notice and generate.resting_seconds(_with(seed_index, llm_url=url).settings) <= 0
        assert "sẽ thử lại" not in _with(seed_index, llm_url=url).ask(CARD_QUESTION).notice


def test_a_resting_server_is_not_asked_to_rewrite_a_follow_up(settings):
    url = f"http://127.0.0.1:{free_port()}/v1"
    generate.rest(url, float("inf"))
    s = dataclasses.replace(settings, llm_url=url)
    assert not generate.available(s)
    assert followup.rewrite("còn Hà Nam thì sao?", [CARD_QUESTION], s) == "Hà Nội tặng Hà Nam bao nhiêu tiền?"


def test_the_key_is_never_shown(settings, tmp_path):
    keyfile = tmp_path / "key"
    keyfile.write_text(KEY + "\n")
    s = dataclasses.replace(settings, llm_url="http://127.0.0.1:1/v1", llm_api_key_file=str(keyfile))
    assert generate.api_key(s) == KEY and KEY not in repr(s) and KEY not in repr(dataclasses.replace(s, llm_api_key=KEY))


def test_the_page_shows_the_model_writing_then_the_checked_answer(seed_index, llm, tmp_path):
    from playwright import sync_api as pw

    from .test_app import CHROMIUM, CHROMIUM_ARGS

    with app_server(seed_index.path, tmp_path, QA_LLM_URL=llm, QA_LLM_API_KEY=KEY, QA_LLM_MAX_TOKENS="160",
                    QA_LLM_PASSAGES="2") as url, pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(url, wait_until="networkidle")
        page.locator("#question textarea").fill(CARD_QUESTION)
        page.locator("#ask").click()
        chat = page.locator("#chat")
        chat.get_by_text("Mô hình đang viết…").wait_for(timeout=120_000)  # tokens shown as they arrive
        pw.expect(chat).to_contain_text("3 tỷ đồng")  # the extractive answer is there already
        chat.get_by_text("Mô hình viết (").wait_for(timeout=120_000)  # then the checked answer replaces them
        pw.expect(chat).not_to_contain_text("Mô hình đang viết…")
        browser.close()


@pytest.mark.parametrize("env, says", [({"QA_LLM_URL": "127.0.0.1:8000"}, "llm_url must be an http:// or https:// base URL"),
                                       ({"QA_LLM_URL": "http://x/v1", "QA_LLM_MAX_TOKENS": "0"}, "at least 1")])
def test_bad_model_settings_are_one_line(env, says):
    import os
    import subprocess
    import sys

    from .conftest import ROOT

    run = subprocess.run([sys.executable, "-m", "qa", "ask", CARD_QUESTION], cwd=ROOT, env={**os.environ, **env},
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and says in run.stderr and "Traceback" not in run.stderr, run.stderr[-500:]
