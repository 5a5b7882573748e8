"""Command line: python -m qa index [FOLDER | --jsonl FILE] [--limit N] | search "…" | ask "…" (--json for
machines; --since --until --source --category filter) | doctor."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from . import open_index
from .cite import format_answer, format_hits
from .config import READERS, Settings
from .index import MODES
from .store import IndexProblem


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
                                     reader=args.reader)
        if args.command == "index" and args.limit is not None and args.limit < 1:
            raise ValueError("--limit must be at least 1")
        if args.command == "index" and args.folder and args.jsonl:
            raise ValueError("index a folder or a --jsonl file, not both")
        if args.command == "doctor":
            from .doctor import run

            return run(settings)
        idx = open_index(settings, getattr(args, "folder", None), progress=args.command == "index",
                         jsonl=getattr(args, "jsonl", None), limit=getattr(args, "limit", None))
        if args.command == "index":
            m = idx.manifest
            print(f"indexed {m['documents']} documents, {m['chunks']} chunks with {m['model']} at {idx.path}")
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


if __name__ == "__main__":
    sys.exit(main())
