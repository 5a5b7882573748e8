"""Score the library on a gold set: retrieval (by article and by answer-bearing chunk), answers, abstention.

    python -m eval [--gold eval/gold_seeds.jsonl --corpus seeds | --xquad FILE | --gold G --jsonl FILE --limit N
                   --index DIR] [--mode hybrid bm25 dense] [--reader learned rules] [--k 10] [--out out/eval]

Uses the public API only (qa.build_index, qa.open_index, Index.search, Index.ask). Each retrieval mode is
scored with each reader ("hybrid" alone when one reader is asked for, else "hybrid/learned", "hybrid/rules":
one run, side by side). Writes report.json, report.md and report.png under --out.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

from tqdm import tqdm

import qa

from .metrics import contains, exact, f1, recall_at, reciprocal_rank
from .xquad import read_xquad

ROOT = Path(__file__).resolve().parent.parent
CHART_METRICS = ["R@1", "R@5", "MRR", "answer accuracy", "sentence accuracy", "F1", "citation accuracy",
                 "abstention recall"]
MAX_MISSES_SHOWN = 40
GROUPS = ("paraphrased", "no_diacritics")  # gold flags reported on their own


def read_gold(path: Path) -> list[dict]:
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                items.append(json.loads(line))
            except ValueError:
                raise ValueError(f"{path}:{n}: not a JSON object") from None
    return items


def evaluate(idx: qa.Index, gold: list[dict], mode: str, k: int, progress: bool = False) -> dict:
    """Per-question results and the aggregate metrics for one retrieval mode."""
    rows = []
    for g in tqdm(gold, desc=mode, unit="q", disable=not progress, mininterval=0.2 if sys.stderr.isatty() else 30):
        hits = idx.search(g["question"], k, mode)  # the retrieval ranking; ask() reorders its citations
        t = time.perf_counter()
        ans = idx.ask(g["question"], k, mode)
        ms = (time.perf_counter() - t) * 1000
        docs = list(dict.fromkeys(h.doc_id for h in hits))  # articles in order of their best chunk
        relevant = set(g["doc_ids"])
        holds_answer = [contains(h.text, g["answers"]) for h in hits]
        rows.append({
            "id": g["id"], "kind": g.get("kind") or ans.kind, "answerable": g["answerable"], "question": g["question"],
            "groups": [name for name in GROUPS if g.get(name)],
            "expected": g["answers"][:1], "answered": ans.text if ans.found else None,
            "cited": ans.citations[0].doc_id if ans.found else None,
            "rr_doc": reciprocal_rank(docs, relevant), "r1": recall_at(docs, relevant, 1),
            "r5": recall_at(docs, relevant, 5), "r10": recall_at(docs, relevant, 10),
            "rr_chunk": reciprocal_rank(holds_answer, {True}), "r5_chunk": recall_at(holds_answer, {True}, 5),
            "correct": ans.found and contains(ans.text, g["answers"]),
            "sentence_ok": ans.found and contains(ans.sentence, g["answers"]),
            "em": ans.found and exact(ans.text, g["answers"]), "f1": f1(ans.text, g["answers"]) if ans.found else 0.0,
            "citation_ok": ans.found and ans.citations[0].doc_id in relevant, "ms": ms,
        })
    return {"metrics": aggregate(rows), "by_kind": {kind: aggregate([r for r in rows if r["kind"] == kind])
                                                    for kind in sorted({r["kind"] for r in rows})},
            "by_group": {name: aggregate([r for r in rows if name in r["groups"]])
                         for name in GROUPS if any(name in r["groups"] for r in rows)},
            "misses": [r for r in rows if r["answerable"] != (r["answered"] is not None) or
                       (r["answerable"] and not r["correct"])], "rows": rows}


def aggregate(rows: list[dict]) -> dict:
    ans = [r for r in rows if r["answerable"]]
    unans = [r for r in rows if not r["answerable"]]
    abstained = [r for r in rows if r["answered"] is None]

    def mean(key: str, rs: list[dict]) -> float | None:
        return round(statistics.fmean(r[key] for r in rs), 3) if rs else None

    def share(n: int, of: list) -> float | None:
        return round(n / len(of), 3) if of else None

    ms = sorted(r["ms"] for r in rows)
    return {
        "questions": len(rows), "answerable": len(ans),
        "R@1": mean("r1", ans), "R@5": mean("r5", ans), "R@10": mean("r10", ans), "MRR": mean("rr_doc", ans),
        "chunk R@5": mean("r5_chunk", ans), "chunk MRR": mean("rr_chunk", ans),
        "answer accuracy": mean("correct", ans), "sentence accuracy": mean("sentence_ok", ans),
        "exact match": mean("em", ans), "F1": mean("f1", ans), "citation accuracy": mean("citation_ok", ans),
        "abstention precision": share(sum(not r["answerable"] for r in abstained), abstained),
        "abstention recall": share(sum(r["answered"] is None for r in unans), unans),
        "wrongly abstained": share(sum(r["answered"] is None for r in ans), ans),
        "p50 ms": round(statistics.median(ms), 1) if ms else None,
        "p95 ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 1) if ms else None,
    }


def run(idx: qa.Index, gold: list[dict], modes: list[str], k: int = 10, progress: bool = False,
        readers: list[str] | None = None) -> dict:
    """The report for `gold` over `idx`, one section per retrieval mode and reader."""
    readers = readers or [idx.settings.reader]
    sections = {}
    for r in readers:
        with_reader = dataclasses.replace(idx, settings=dataclasses.replace(idx.settings, reader=r))
        for m in modes:
            sections[m if len(readers) == 1 else f"{m}/{r}"] = evaluate(with_reader, gold, m, k, progress)
    return {"k": k, "questions": len(gold), "modes": sections}


def markdown(report: dict) -> str:
    modes = list(report["modes"])
    keys = list(report["modes"][modes[0]]["metrics"])
    lines = [f"Gold: {report.get('gold', '?')}; corpus: {report.get('corpus', '?')}; k = {report['k']}.", "",
             "| metric | " + " | ".join(modes) + " |", "|---|" + "---|" * len(modes)]
    lines += [f"| {key} | " + " | ".join(_cell(report["modes"][m]["metrics"][key]) for m in modes) + " |"
              for key in keys]
    for m in modes:
        by_kind = report["modes"][m]["by_kind"]
        lines += ["", f"### By kind ({m})", "", "| kind | questions | answer accuracy | F1 | citation | abstention recall |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {kind} | {a['questions']} | {_cell(a['answer accuracy'])} | {_cell(a['F1'])} | "
                  f"{_cell(a['citation accuracy'])} | {_cell(a['abstention recall'])} |"
                  for kind, a in list(by_kind.items()) + list(report["modes"][m].get("by_group", {}).items())]
        misses = report["modes"][m]["misses"]
        lines += ["", f"### Misses ({m}): {len(misses)}", ""]
        lines += [f"- {r['id']} [{r['kind']}] {r['question']} → {r['answered'] or 'not found'}"
                  f" (expected {r['expected'][0] if r['expected'] else 'not found'})"
                  for r in misses[:MAX_MISSES_SHOWN]] or ["- none"]
        if len(misses) > MAX_MISSES_SHOWN:
            lines.append(f"- … and {len(misses) - MAX_MISSES_SHOWN} more in report.json")
    return "\n".join(lines) + "\n"


def chart(report: dict, path: Path) -> Path:
    """A grouped bar chart of the main metrics, one colour per mode."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = list(report["modes"])
    keys = [key for key in CHART_METRICS if any(report["modes"][m]["metrics"][key] is not None for m in modes)]
    width = 0.8 / len(modes)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(keys)), 4.0))
    for i, m in enumerate(modes):
        values = [report["modes"][m]["metrics"][key] or 0.0 for key in keys]
        bars = ax.bar([x + i * width for x in range(len(keys))], values, width, label=m)
        ax.bar_label(bars, fmt="%.3f", fontsize=6)
    ax.set_xticks([x + width * (len(modes) - 1) / 2 for x in range(len(keys))], keys, rotation=25, ha="right")
    ax.set_ylim(0, 1.15)
    ax.set_title(f"{Path(str(report.get('gold', ''))).name}: {report['questions']} questions, k = {report['k']}")
    ax.legend(loc="upper center", ncol=len(modes), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval", description=__doc__.splitlines()[0])
    ap.add_argument("--gold", type=Path, default=ROOT / "eval" / "gold_seeds.jsonl")
    ap.add_argument("--corpus", type=Path, default=ROOT / "seeds")
    ap.add_argument("--xquad", type=Path, help="a SQuAD-format file (XQuAD-vi): its paragraphs become the corpus")
    ap.add_argument("--jsonl", type=Path, help="a .jsonl(.gz) file of records as the corpus (with --limit, --index)")
    ap.add_argument("--limit", type=int, help="the first N records of --jsonl")
    ap.add_argument("--index", type=Path, help="where the --jsonl index is kept (built once, then reused)")
    ap.add_argument("--reader", nargs="+", choices=list(qa.READERS), help="default: the configured one (QA_READER)")
    ap.add_argument("--mode", nargs="+", default=["hybrid"], choices=list(qa.MODES))
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "eval")
    args = ap.parse_args(argv)
    progress = sys.stderr.isatty()
    try:
        if args.k < 1:
            raise ValueError("--k must be at least 1")
        if args.xquad:
            docs, gold = read_xquad(args.xquad)
            idx = qa.build_index(docs, progress=progress)
        elif args.jsonl:
            if not args.index:
                raise ValueError("--jsonl needs --index DIR (where its index is kept)")
            gold = read_gold(args.gold)
            settings = qa.Settings.from_env(index_dir=args.index)
            idx = qa.open_index(settings, jsonl=args.jsonl, limit=args.limit, progress=progress)
        else:
            gold = read_gold(args.gold)
            idx = qa.build_index(args.corpus, progress=progress)
        corpus = ("its paragraphs" if args.xquad else f"{args.jsonl} (first {args.limit or 'all'} records)"
                  if args.jsonl else str(args.corpus))
        report = {"gold": str(args.xquad or args.gold), "corpus": corpus,
                  **run(idx, gold, args.mode, args.k, progress=True, readers=args.reader)}
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
        (args.out / "report.md").write_text(markdown(report), encoding="utf-8")
        chart(report, args.out / "report.png")
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(markdown(report))
    print(f"written: {args.out}/report.json, report.md, report.png", file=sys.stderr)
    return 0


def _cell(value) -> str:
    return "–" if value is None else str(value)
