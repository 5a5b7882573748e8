"""The reader's network in torch: the converted e5-small encoder with a start/end span head, its top layers
trainable; loaded from and saved to the reader's files. Used by training and by the one-time ONNX export."""
from __future__ import annotations

from pathlib import Path

import torch

from qa.models.reader_files import weight_files, weight_part, write_meta

SHARD_BYTES = 24_000_000  # what git keeps: files of at most 25 MB


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
    from transformers import AutoModel
    from transformers import logging as hf_logging

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
        files = weight_files(weights)
        if not files:
            raise ValueError(f"no trained reader at {weights}")
        state = {k: v.float() for f in files for k, v in load_file(str(f)).items()}
        missing = set(state) - set(net.state_dict())
        if missing:
            raise ValueError(f"{weights}: tensors this reader does not have: {sorted(missing)[:3]}")
        net.load_state_dict(state, strict=False)
    return net


def trained_state(net: ReaderNet) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.named_parameters() if v.requires_grad}


def save_weights(net: ReaderNet, weights: Path, meta: dict) -> None:
    """The trained tensors in fp16 (what git keeps), in files of at most SHARD_BYTES (`weights`, then
    NAME.2.safetensors…: reader_files.weight_part), and the settings and figures beside them."""
    from safetensors.torch import save_file

    weights.parent.mkdir(parents=True, exist_ok=True)
    shards, size = [{}], 0
    for k, v in trained_state(net).items():
        v = v.half().contiguous()
        if size and size + v.numel() * 2 > SHARD_BYTES:
            shards.append({})
            size = 0
        shards[-1][k], size = v, size + v.numel() * 2
    for n, part in enumerate(shards, 1):
        tmp = weight_part(weights, n).with_suffix(".tmp")
        save_file(part, str(tmp))
        tmp.replace(weight_part(weights, n))
    for old in weight_files(weights)[len(shards):]:  # parts of an earlier, larger reader
        old.unlink()
    write_meta(weights, meta)
