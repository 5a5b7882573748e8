"""The reader's network: a span head over an encoder, its trained tensors saved in fp16 parts and loaded back."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import BertConfig, BertModel

from qa.models import reader_files, reader_net
from qa.models.convert import ensure_converted
from qa.models.reader_net import ReaderNet, build_net, save_weights, trained_state


def tiny_net() -> ReaderNet:
    """A two-layer encoder of width 8 with its head, the top layer and the head trainable (as `build_net` makes it)."""
    torch.manual_seed(0)
    config = BertConfig(vocab_size=40, hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=16,
                        max_position_embeddings=16)
    net = ReaderNet(BertModel(config, add_pooling_layer=False))
    net.requires_grad_(False)
    net.encoder.encoder.layer[1].requires_grad_(True)
    net.head.requires_grad_(True)
    return net


def test_the_head_scores_start_and_end_of_every_token_and_padding_lowest():
    ids = torch.tensor([[1, 5, 7, 0], [1, 9, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    start, end = tiny_net()(ids, mask)
    assert start.shape == end.shape == (2, 4)
    assert (start[mask == 0] == -1e4).all() and (end[mask == 0] == -1e4).all() and (start[mask == 1] > -1e3).all()


def test_only_the_trained_tensors_are_kept_as_copies():
    net = tiny_net()
    state = trained_state(net)
    assert set(state) == {k for k, _ in net.named_parameters() if k.startswith(("encoder.encoder.layer.1.", "head."))}
    state["head.bias"].add_(1.0)
    assert not torch.equal(state["head.bias"], net.head.bias) and not state["head.bias"].requires_grad


def test_weights_are_saved_in_fp16_parts_of_at_most_shard_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(reader_net, "SHARD_BYTES", 300)  # the tiny net's 1.2 kB then needs several parts
    net, weights = tiny_net(), tmp_path / "reader.safetensors"
    save_weights(net, weights, {"layers_trained": 1})
    files = reader_files.weight_files(weights)
    parts = [load_file(str(f)) for f in files]
    sizes = [sum(v.numel() * 2 for v in part.values()) for part in parts]
    assert len(files) >= 4 and all(size <= 300 for size in sizes), sizes
    assert all(v.dtype == torch.float16 for part in parts for v in part.values())
    state = trained_state(net)
    part_of = {k: n for n, part in enumerate(parts) for k in part}
    assert sorted(part_of) == sorted(state) and sum(map(len, parts)) == len(state)  # each tensor once
    assert [part_of[k] for k in state] == sorted(part_of[k] for k in state)  # the parts take them in order
    assert all(torch.equal(part[k], state[k].half()) for part in parts for k in part)
    firsts = [next(k for k in state if part_of[k] == n) for n in range(1, len(parts))]
    for size, first in zip(sizes, firsts):  # a new part only when the next tensor does not fit
        assert size + state[first].numel() * 2 > 300
    assert reader_files.read_meta(weights) == {"layers_trained": 1} and not list(tmp_path.glob("*.tmp"))


def test_parts_of_an_older_larger_reader_are_removed(tmp_path, monkeypatch):
    weights = tmp_path / "reader.safetensors"
    monkeypatch.setattr(reader_net, "SHARD_BYTES", 300)
    save_weights(tiny_net(), weights, {})
    many = len(reader_files.weight_files(weights))
    monkeypatch.setattr(reader_net, "SHARD_BYTES", 24_000_000)
    save_weights(tiny_net(), weights, {})
    assert many > 1 and [f.name for f in reader_files.weight_files(weights)] == ["reader.safetensors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reader.json", "reader.safetensors"]


def test_a_reader_too_large_for_one_file_is_split_and_loads_whole(tmp_path, settings):
    """Eight layers in fp16 are 28 MB: two files of at most 25 MB, read back as one reader."""
    base = ensure_converted(settings.cache_dir)
    net = build_net(base, 8)
    weights = tmp_path / "big.safetensors"
    (tmp_path / "big.3.safetensors").write_bytes(b"a part of an older, larger reader")
    save_weights(net, weights, {"layers_trained": 8})
    files = reader_files.weight_files(weights)
    assert [f.name for f in files] == ["big.safetensors", "big.2.safetensors"]
    assert all(f.stat().st_size <= 25_000_000 for f in files) and not (tmp_path / "big.3.safetensors").exists()
    again = build_net(base, 8, weights)
    trained = {k for k, v in net.named_parameters() if v.requires_grad}
    assert len(trained) > 100
    for (name, a), b in zip(net.named_parameters(), again.parameters()):
        assert torch.equal(a.half().float(), b) if name in trained else torch.equal(a, b), name


def test_build_net_trains_only_the_top_layers_and_the_head(settings):
    net = build_net(ensure_converted(settings.cache_dir), 2)
    n = net.encoder.config.num_hidden_layers
    layer = "encoder.encoder.layer."
    trained = {k.removeprefix(layer).split(".")[0] if k.startswith(layer) else k.split(".")[0] for k in trained_state(net)}
    assert trained == {str(n - 2), str(n - 1), "head"}


def test_weights_that_are_missing_or_not_this_readers_are_refused(tmp_path, settings):
    base = ensure_converted(settings.cache_dir)
    with pytest.raises(ValueError, match="no trained reader"):
        build_net(base, 1, tmp_path / "none.safetensors")
    save_file({"head.weight": torch.zeros(2, 384), "other.weight": torch.zeros(1)}, str(tmp_path / "odd.safetensors"))
    with pytest.raises(ValueError, match="tensors this reader does not have: \\['other.weight'\\]"):
        build_net(base, 1, tmp_path / "odd.safetensors")
