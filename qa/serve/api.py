"""The JSON API for scripts, served beside the page (Gradio runs on FastAPI): search, ask, add, read and remove
documents, health; OpenAPI at /api/docs.

Responses are the pipeline's own dataclasses (Hit, Answer, Document), which FastAPI turns into pydantic
schemas. Errors are JSON with a 4xx status and one clear message; a bad body is a 422 naming the field.
With keys set (`QA_API_KEY`, or `QA_API_KEYS_FILE` with one key a line) every route needs
`Authorization: Bearer KEY`.
"""
from __future__ import annotations

import datetime as dt
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from qa.config import Settings
from qa.index.index import MODES
from qa.index.milvus import MilvusProblem
from qa.serve.library import SAFE_ID, Added, Library, NotRemovable
from qa.types import Answer, Document, Hit

Mode = Literal[MODES]  # type: ignore[valid-type]
try:  # the request models' limits, as the server is configured (a bad value is reported when it starts)
    LIMITS = Settings.from_env_only("max_question_chars", "max_history")
except ValueError:
    LIMITS = Settings()
Names = str | list[str] | None


class Filters(BaseModel):
    """Only articles that pass (qa/index/filters.py: one field a key of its KEYS, which tests/test_api.py holds it to)."""

    model_config = ConfigDict(extra="forbid")
    since: dt.date | None = Field(None, description="inclusive", examples=["2019-03-01"])
    until: dt.date | None = Field(None, description="inclusive", examples=["2019-06-30"])
    source: Names = None
    category: Names = None
    doc_ids: list[str] | None = None


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=LIMITS.max_question_chars, pattern=r"\w", examples=["Hà Nội tặng Vĩnh Phúc bao nhiêu tiền?"])
    k: int = Field(5, ge=1, le=50)
    mode: Mode = "hybrid"
    filters: Filters | None = None


class Ask(Query):
    history: list[Annotated[str, Field(max_length=LIMITS.max_question_chars)]] = Field([], max_length=LIMITS.max_history, description="earlier questions of the conversation, oldest "
                               "first: a follow-up (\"còn Hà Nam thì sao?\") is asked as a whole question")
    stream: bool = Field(False, description="server-sent events: `token` as a language model writes (when one is "
                         "set), then `answer`, the Answer with the check")


class Record(BaseModel):
    """An article as JSON; fields other than these become its meta."""

    model_config = ConfigDict(extra="allow")
    text: str = Field(min_length=1)
    id: str | None = Field(None, pattern=f"^{SAFE_ID.pattern}$")
    title: str | None = None
    date: str | None = None
    source: str | None = None
    url: str | None = None


class Records(BaseModel):
    model_config = ConfigDict(extra="forbid")
    records: list[Record] = Field(min_length=1, max_length=1000)


class Health(BaseModel):
    status: Literal["ok"]
    documents: int
    chunks: int
    reader: str


class Removed(BaseModel):
    removed: str


SSE_EVENT = {"type": "object", "required": ["event", "data"], "properties": {
    "event": {"type": "string", "enum": ["token", "answer"]},
    "data": {"type": "string", "description": "JSON: {\"text\": …} for a token, the Answer for the answer"}}}
DOCUMENTS_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": Records.model_json_schema(ref_template="#/components/schemas/{model}")},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string", "format": "binary"}}}}}}}


def keys(settings: Settings) -> list[str]:
    """The API keys: QA_API_KEY and the lines of QA_API_KEYS_FILE (blank lines and # comments aside)."""
    found = [settings.api_key] if settings.api_key else []
    if settings.api_keys_file:
        try:
            text = Path(settings.api_keys_file).expanduser().read_text(encoding="utf-8")
        except OSError as e:
            raise ValueError(f"cannot read the keys file {settings.api_keys_file}: {e.strerror}") from None
        found += [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return found


def router(lib: Library, allowed: list[str]) -> APIRouter:
    def key_check(request: Request) -> None:
        if not allowed:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not any(hmac.compare_digest(given.strip(), k) for k in allowed):
            raise HTTPException(401, "a key is needed: send Authorization: Bearer KEY",
                                headers={"WWW-Authenticate": "Bearer"})

    api = APIRouter(prefix="/api", dependencies=[Depends(key_check)])

    @api.get("/health")
    def health() -> Health:
        """The index is loaded and answering."""
        idx = lib.fresh()
        return Health(status="ok", documents=len(idx.docs), chunks=len(idx.chunks),
                      reader=lib.settings.reader)

    @api.post("/search", responses={400: {"description": "a filter or question the index cannot take"}})
    def search(q: Query) -> list[Hit]:
        """The k passages that best match the question, among the articles that pass the filters."""
        return lib.search(q.question, q.k, q.mode, _filters(q))

    @api.post("/ask", response_model=Answer, responses={
        200: {"content": {"text/event-stream": {"schema": SSE_EVENT}},
              "description": "the Answer; with stream: true, events `token` {\"text\"} and a last `answer`"},
        400: {"description": "a filter or question the index cannot take"}})
    def ask(q: Ask):
        """The short answer, its sentence and citations, or found: false with the closest passages; with a
        language model set, also its answer, each sentence checked against the passages it cites."""
        if not q.stream:
            return lib.ask(q.question, q.k, q.mode, _filters(q), q.history)
        events = lib.ask_stream(q.question, q.k, q.mode, _filters(q), q.history)  # a bad request fails here, as JSON
        return StreamingResponse(_sse(events), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})  # not buffered by proxies

    @api.post("/documents", openapi_extra=DOCUMENTS_BODY, responses={415: {"description": "neither JSON nor a file"},
                                                                       422: {"description": "a bad body, naming the field"}})
    async def add(request: Request) -> list[Added]:
        """Add articles: JSON {"records": [...]}, or one file (multipart field "file": .txt .md .html .pdf
        .docx). One result per record or file: added, duplicate or rejected with the reason."""
        kind = request.headers.get("content-type", "")
        if kind.startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise HTTPException(422, "field 'file': a file is required")
            data = await upload.read()
            return await run_in_threadpool(lib.add, [(upload.filename or "upload.txt", data)])
        if kind.startswith("application/json"):
            try:
                body = Records.model_validate(json.loads(await request.body()))
            except ValueError as e:  # JSON or pydantic: says which field
                raise HTTPException(422, _first_error(e)) from None
            return await run_in_threadpool(lib.add_records, [r.model_dump(exclude_none=True) for r in body.records])
        raise HTTPException(415, "send application/json {\"records\": [...]} or multipart/form-data with a file")

    @api.get("/documents/{doc_id}", responses={404: {"description": "no such article"}})
    def document(doc_id: str) -> Document:
        """One indexed article with its text, date, source, url and meta."""
        try:
            return lib.fresh().document(doc_id)
        except KeyError:
            raise HTTPException(404, f"no article with id {doc_id!r}") from None

    @api.delete("/documents/{doc_id}", responses={404: {"description": "no such article"},
                                                   409: {"description": "it comes from the indexed folder"}})
    def remove(doc_id: str) -> Removed:
        """Take an added article out of the index (one from the indexed folder goes when its file does)."""
        try:
            lib.remove(doc_id)
        except KeyError:
            raise HTTPException(404, f"no article with id {doc_id!r}") from None
        except NotRemovable as e:
            raise HTTPException(409, str(e)) from None
        return Removed(removed=doc_id)

    return api


def _sse(events) -> Iterator[str]:
    for event in events:
        if "read" in event:  # the reader's answer, before the model writes: the page shows it, the API does not
            continue
        name, data = ("token", {"text": event["token"]}) if "token" in event else ("answer", event["answer"].to_dict())
        yield f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def mount(app: FastAPI, lib: Library) -> FastAPI:
    """The API's routes, OpenAPI document and error handling on `app`."""
    app.include_router(router(lib, keys(lib.settings)))

    @app.exception_handler(ValueError)
    async def bad_value(request: Request, e: ValueError):
        return JSONResponse({"detail": str(e)}, status_code=400)

    @app.exception_handler(MilvusProblem)
    async def store_down(request: Request, e: MilvusProblem):  # the store, not the request, is wrong
        return JSONResponse({"detail": str(e)}, status_code=503)

    return app


def create(lib: Library) -> FastAPI:
    return mount(FastAPI(title="qa: Vietnamese news search with cited answers", docs_url="/api/docs",
                         openapi_url="/api/openapi.json", redoc_url=None), lib)


def _filters(q: Query) -> dict | None:
    return q.filters.model_dump(exclude_none=True) if q.filters else None


def _first_error(e: ValueError) -> str:
    errors = getattr(e, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"field '{'.'.join(str(x) for x in first['loc'])}': {first['msg']}"
    return f"the body is not JSON ({e})"
