"""Two gloo processes (spawned, as torchrun would set them up) follow a one-process run."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from tests.training.test_loop import ToyStage, toy_cfg
from training.bench import run_distributed
from training.checkpoint import latest_checkpoint
from training.dist import average_gradients, sample_positions
from training.loop import train


def test_sample_positions_shard_the_global_batch():
    one = sample_positions(3, 8, 0, 1)
    two = sample_positions(3, 8, 0, 2) + sample_positions(3, 8, 1, 2)
    assert one == two == list(range(24, 32))
    assert sample_positions(5, 4, 1, 2, repeat=True) == [2, 3]
    with pytest.raises(ValueError, match="divisible"):
        sample_positions(0, 5, 0, 2)


def test_average_gradients_is_noop_without_group():
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.full((3,), 2.0)
    average_gradients([p])
    assert torch.equal(p.grad, torch.full((3,), 2.0))


@pytest.mark.slow
def test_two_process_gloo_matches_one_process(tmp_path):
    cfg1 = toy_cfg(tmp_path / "one", steps=6, noise=0.0, ckpt_every=0)
    cfg2 = toy_cfg(tmp_path / "two", steps=6, noise=0.0, ckpt_every=0)
    single = train(ToyStage, cfg1)
    res = run_distributed(ToyStage, cfg2, world=2)
    assert res["world"] == 2 and res["step"] == 6 and "gloo" in res["device"]
    a = load_file(str(latest_checkpoint(tmp_path / "one") / "model.safetensors"))
    b = load_file(str(latest_checkpoint(tmp_path / "two") / "model.safetensors"))
    assert set(a) == set(b)
    moved = max((a[k] - ToyStage_init(k)).abs().max().item() for k in a if not k.startswith("ema."))
    assert moved > 1e-3  # training did change the weights
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)
    # The logged loss is the mean over both processes, so it matches too.
    for h1, h2 in zip(single.history, res["history"], strict=True):
        assert h1["loss"] == pytest.approx(h2["loss"], rel=1e-4, abs=1e-6)


def ToyStage_init(key: str) -> torch.Tensor:
    """The toy net's initial weights (the loop seeds with cfg.seed before building nets)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    return net.state_dict()[key.split(".", 1)[1]]


@pytest.mark.slow
def test_run_distributed_tries_another_port_when_its_port_is_taken(tmp_path, monkeypatch):
    import socket

    import training.bench as bench

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        ports = [busy.getsockname()[1]]
        real = bench._free_port

        def fake() -> int:
            ports.append(real())
            return ports[-2]

        monkeypatch.setattr(bench, "_free_port", fake)
        res = run_distributed(ToyStage, toy_cfg(tmp_path, steps=2, noise=0.0, ckpt_every=0), world=2)
    assert res["step"] == 2
    assert len(ports) == 3  # the taken port, then a free one (the third was drawn but not used)
