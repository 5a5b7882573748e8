"""One reader per file format: the article's text and what its file says about it (title, date, source, url).

Each reader takes the file's bytes and returns a dict with "text" and any of "title", "date", "source",
"url", "meta"; it raises ValueError saying why a file cannot be read. The parsing is the libraries' made
for each format: trafilatura for web pages (it keeps an article's main text and drops menus, related
links and footers), pypdf for a PDF's text layer, python-docx for Word files. `corpus` turns the dict
into a Document and runs the readers of the formats whose parsers can crash or hang in a worker process
under a time limit.
"""
from __future__ import annotations

import datetime as dt
import io
import re

import regex

from qa.text import patterns

TEXT_SUFFIXES = {".txt", ".md"}  # read in the calling process: nothing there can hang
PARSED_SUFFIXES = {".html", ".htm", ".pdf", ".docx"}  # read in a worker process, under a time limit
SUFFIXES = TEXT_SUFFIXES | PARSED_SUFFIXES
BINARY, NOT_UTF8, EMPTY = "binary file", "not UTF-8 text", "empty file"  # why a text file is not read
NO_TEXT_LAYER = "a PDF without a text layer (scanned pages): it needs OCR first"
NO_ARTICLE = "no article text found in the page"
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)
_DATELINE = regex.compile(  # a line opening with a place name of capitalised words, then the date: "TP.HCM, 3/9/2020"
    r"^\(?\p{Lu}[\p{L}.]*(?:[ \t]+\p{Lu}[\p{L}.]*){0,3}\)?[ \t]*,[ \t]*(?:ngày[ \t]+)?"
    + patterns.dmy(r"[ \t]") + r"\b", regex.M)
_DMY = re.compile(rf"^\s*{patterns.dmy()}")
_ISO = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})")


def decode(data: bytes) -> str:
    """UTF-8 text (a BOM is dropped); ValueError "binary file", "not UTF-8 text" or "empty file"."""
    if b"\x00" in data[:8192]:
        raise ValueError(BINARY)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(NOT_UTF8) from None
    if not text.strip():
        raise ValueError(EMPTY)
    return text


def read_bytes(suffix: str, data: bytes) -> dict:
    """The reader of `suffix` (".html", ...) applied to a file's bytes."""
    if suffix.lower() not in _READERS:
        raise ValueError(f"not a format the tool reads ({', '.join(sorted(SUFFIXES))})")
    return _READERS[suffix.lower()](data)


def iso_date(value) -> str:
    """An ISO date (YYYY-MM-DD) from a date, a datetime or text written 2019-03-15, 15/3/2019 or 15-3-2019;
    "" when it is none of these or not a real day."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if not isinstance(value, str):
        return ""
    if m := _ISO.match(value):
        y, mo, d = m.groups()
    elif m := _DMY.match(value):
        d, mo, y = m.groups()
    else:
        return ""
    try:
        return dt.date(int(y), int(mo), int(d)).isoformat()
    except ValueError:
        return ""


def dateline(text: str) -> str:
    """The date of a dateline at the head of an article ("Hà Nội, 15/3/2019 – ..."), ISO; "" without one."""
    m = _DATELINE.search(text[:300])
    return iso_date(f"{m.group(1)}/{m.group(2)}/{m.group(3)}") if m else ""


def _txt(data: bytes) -> dict:
    return {"text": decode(data)}


def _markdown(data: bytes) -> dict:
    """Markdown; a YAML front matter block gives title, date, source, url and the rest as meta."""
    import yaml

    text = decode(data)
    m = _FRONT_MATTER.match(text)
    if not m:
        return {"text": text}
    try:
        front = yaml.safe_load(m.group(1))
    except yaml.YAMLError as e:
        raise ValueError(f"its front matter is not YAML ({str(e).splitlines()[0]})") from None
    front = front if isinstance(front, dict) else {}
    out = {"text": text[m.end():], "meta": {}}
    for key, value in front.items():
        key = str(key).lower()
        if key in ("title", "source", "url"):
            out[key] = str(value)
        elif key == "date":
            out["date"] = iso_date(value)
        else:
            out["meta"][key] = value if plain(value) else str(value)
    return out


def plain(value) -> bool:
    """A value meta keeps as it is: a JSON scalar or a list of them (the index stores meta as JSON)."""
    scalar = (str, int, float, bool)
    return isinstance(value, scalar) or isinstance(value, list) and all(isinstance(x, scalar) for x in value)


def _html(data: bytes) -> dict:
    """A saved web page: its main text (trafilatura) and the page's title, date, URL and site name."""
    import trafilatura

    found = trafilatura.bare_extraction(data, with_metadata=True, include_comments=False, include_tables=True,
                                        favor_precision=True)  # a page of menus alone is no article
    doc = found.as_dict() if found is not None else {}
    if not (doc.get("text") or "").strip():
        raise ValueError(NO_ARTICLE)
    return {"text": doc["text"], "title": doc.get("title") or "", "date": iso_date(doc.get("date") or ""),
            "source": doc.get("sitename") or doc.get("hostname") or "", "url": doc.get("url") or "",
            "meta": {k: doc[k] for k in ("author", "categories") if doc.get(k)}}


def _pdf(data: bytes) -> dict:
    """A PDF's text layer, page by page; one without any (scanned pages) is refused: it needs OCR."""
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its repair notes are not the user's business

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        info = reader.metadata or {}
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as e:
        raise ValueError(f"not a readable PDF ({type(e).__name__})") from None
    text = "\n\n".join(_unwrap(p) for p in pages if p)
    if not text.strip():
        raise ValueError(NO_TEXT_LAYER)
    # no date from the file: when a PDF was made says nothing of when its article appeared (the dateline may)
    return {"text": text, "title": str(info.get("/Title") or "")}


def _unwrap(page: str) -> str:
    """A page's lines with the printed line breaks inside sentences undone ("tổng vốn 1.200 tỷ\nđồng") and
    the spaces of justified lines collapsed: a line that does not end a sentence goes on in the next."""
    lines = [" ".join(line.split()) for line in page.splitlines()]
    out = []
    for line in filter(None, lines):
        if out and not re.search(r"[.!?:;\"”)]$", out[-1]) and line[:1].islower():
            out[-1] += " " + line
        else:
            out.append(line)
    return "\n".join(out)


def _docx(data: bytes) -> dict:
    """A Word file's paragraphs and tables in reading order (a table row a line, cells between " | ")."""
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as e:  # python-docx raises what the zip and XML layers raise: all mean "not a docx"
        raise ValueError(f"not a readable .docx file ({type(e).__name__})") from None
    blocks = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            blocks += [" | ".join(c.text.strip() for c in row.cells) for row in block.rows]
        elif block.text.strip():
            blocks.append(block.text.strip())
    text = "\n".join(blocks)
    if not text.strip():
        raise ValueError(EMPTY)
    return {"text": text, "title": document.core_properties.title or ""}  # (its dates are the file's, not the article's)


_READERS = {".txt": _txt, ".md": _markdown, ".html": _html, ".htm": _html, ".pdf": _pdf, ".docx": _docx}
