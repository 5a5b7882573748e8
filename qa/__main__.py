"""Command line: python -m qa index [FOLDER | --jsonl FILE] [--limit N] [--ray [ADDRESS]] | sync SOURCE [--watch N] | optimize |
search "…" | ask "…" (--json for machines; --since --until --source --category filter) | doctor."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from qa import sync_index
from qa.answer.cite import format_answer, format_hits
from qa.config import READERS, Settings
from qa.index.index import MODES
from qa.index.store import IndexProblem
from qa.intake import corpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa", description="Vietnamese search with cited answers.")
    parser.add_argument("--index", type=Path, help="index folder (default: QA_INDEX_DIR or index/default)")
    parser.add_argument("--model", help="sentence-transformers model name or path (QA_EMBED_MODEL)")
    parser.add_argument("--cache-dir", type=Path, help="where the converted model is kept (QA_CACHE_DIR)")
    parser.add_argument("--reader", choices=READERS, help="who picks the short answer (QA_READER, default rules)")
    sub = parser.add_subparsers(dest="command", required=True)
    p_index = sub.add_parser("index", help="build or refresh the index of a folder of articles (.txt .md .html .pdf .docx)")
    p_index.add_argument("folder", nargs="?", type=Path,
                         help="default: the folder the index was built from, else seeds/ (QA_CORPUS_DIR)")
    p_index.add_argument("--jsonl", type=Path, help="index a .jsonl(.gz) file of {id, title, text} records instead")
    p_index.add_argument("--limit", type=int, help="only the first N documents")
    p_index.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS",
                         help="embed on a Ray cluster: a running one (auto, the default) or HOST:PORT (QA_RAY_ADDRESS)")
    p_sync = sub.add_parser("sync", help="bring the index in step with a folder or a .jsonl(.gz) file: add new "
                            "articles, re-index changed ones, delete removed ones; prints what changed")
    p_sync.add_argument("source", type=Path, help="a folder of articles or a .jsonl(.gz) file of records")
    p_sync.add_argument("--watch", type=float, metavar="N", help="sync again every N seconds until stopped (Ctrl-C)")
    sub.add_parser("optimize", help="merge the index's segments into one, dropping deleted articles")
    sub.add_parser("doctor", help="check the packages, model cache, index and corpus; one line each")
    for name in ("search", "ask"):
        p = sub.add_parser(name, help=f"{name} the index")
        p.add_argument("question")
        p.add_argument("-k", type=int, default=None, help="passages to return")
        p.add_argument("--mode", choices=MODES, default="hybrid")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.add_argument("--since", help="only articles dated on or after this day (2019-03-15)")
        p.add_argument("--until", help="only articles dated on or before this day")
        p.add_argument("--source", action="append", help="only articles of this source (repeat for more)")
        p.add_argument("--category", action="append", help="only articles of this category (repeat for more)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    try:
        settings = Settings.from_env(embed_model=args.model, cache_dir=args.cache_dir, index_dir=args.index,
                                     reader=args.reader, ray_address=getattr(args, "ray", None))
        if args.command == "index" and args.limit is not None and args.limit < 1:
            raise ValueError("--limit must be at least 1")
        if args.command == "index" and args.folder and args.jsonl:
            raise ValueError("index a folder or a --jsonl file, not both")
        if args.command == "doctor":
            from qa.serve.doctor import run

            return run(settings)
        if args.command == "sync":
            return _sync(settings, args.source, args.watch)
        if args.command == "optimize":
            return _optimize(settings)
        idx, changes = sync_index(settings, getattr(args, "folder", None), progress=args.command == "index",
                                  jsonl=getattr(args, "jsonl", None), limit=getattr(args, "limit", None))
        if args.command == "index":
            m = idx.manifest
            print(f"indexed {m['documents']} documents, {m['chunks']} chunks in {_segments(idx)} with {m['model']} "
                  f"at {idx.path} ({changes})")
            return 0
        filters = {key: getattr(args, key) for key in ("since", "until", "source", "category") if getattr(args, key)}
        if args.command == "search":
            hits = idx.search(args.question, args.k, args.mode, filters)
            print(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=1) if args.json else format_hits(hits))
        else:
            ans = idx.ask(args.question, args.k, args.mode, filters)
            print(json.dumps(ans.to_dict(), ensure_ascii=False, indent=1) if args.json else format_answer(ans))
        return 0
    except (ValueError, IndexProblem) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _sync(settings: Settings, source: Path, watch: float | None) -> int:
    if watch is not None and watch <= 0:
        raise ValueError("--watch takes a number of seconds above 0")
    if not source.exists():
        raise ValueError(f"{source} does not exist: give a folder of articles or a .jsonl(.gz) file")
    records = source.is_file()
    if records and not corpus.is_records(source.name):
        raise ValueError(f"{source} is a file but not .jsonl or .jsonl.gz: give a folder of articles or a records file")
    while True:
        try:
            idx, changes = sync_index(settings, None if records else source, jsonl=source if records else None)
            print(f"{time.strftime('%H:%M:%S')} {changes}; {idx.manifest['documents']:,} documents in "
                  f"{_segments(idx)} at {idx.path}", flush=True)
        except (ValueError, IndexProblem, OSError) as e:
            if watch is None:
                raise ValueError(str(e)) from None
            print(f"error: {e} (trying again in {watch:g} s)", file=sys.stderr, flush=True)
        if watch is None:
            return 0
        time.sleep(watch)


def _segments(idx) -> str:
    return f"{len(idx.segments)} segment{'s' if len(idx.segments) != 1 else ''}"


def _optimize(settings: Settings) -> int:
    from qa.index.index import load
    from qa.index.store import writer_lock

    with writer_lock(settings.index_dir):
        idx = load(settings.index_dir, settings)
        t0, before = time.perf_counter(), len(idx.segments)
        merged = idx.optimize()
        if merged is not idx:
            merged.save(settings.index_dir, lock=False)
    print(f"{before} segments -> {len(merged.segments)} at {settings.index_dir}, {merged.manifest['documents']:,} "
          f"documents, {merged.manifest['chunks']:,} chunks ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
