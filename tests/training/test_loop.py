"""The shared training loop on a toy stage: loss falls, exact resume, checkpoint format, logging."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from training.checkpoint import latest_checkpoint
from training.config import TrainConfig
from training.loop import Stage, train


@dataclass
class ToyConfig(TrainConfig):
    noise: float = 0.1  # dropout-like noise from the global RNG (exercises RNG determinism)
    hidden: int = 16


class ToyStage(Stage):
    """Regress y = sin(W x) from 8-d inputs that are a pure function of the sample number."""

    name = "toy"
    config_cls = ToyConfig
    ema_names = ("net",)

    def build_nets(self):
        self.nets["net"] = nn.Sequential(
            nn.Linear(8, self.cfg.hidden), nn.Tanh(), nn.Linear(self.cfg.hidden, 2)
        )

    def build_optimizers(self):
        self.optimizers["opt"] = torch.optim.Adam(self.nets["net"].parameters(), lr=self.cfg.lr)

    def make_batch(self, positions, step):
        xs = np.stack([np.random.default_rng(p).standard_normal(8) for p in positions])
        x = torch.tensor(xs, dtype=torch.float32, device=self.device)
        w = torch.linspace(-1, 1, 16).view(8, 2)
        return x, torch.sin(x @ w)

    def train_step(self, batch, step):
        x, y = batch
        if self.cfg.noise:
            x = x + self.cfg.noise * torch.randn_like(x)
        loss = (self.nets["net"](x) - y).pow(2).mean()
        self.trainer.backward(loss)
        self.trainer.step(self.optimizers["opt"])
        return {"loss": loss.item()}


def toy_cfg(out: Path, **kw) -> ToyConfig:
    base = dict(
        out=str(out),
        steps=12,
        batch_size=4,
        lr=3e-2,
        progress=False,
        tensorboard=False,
        ckpt_every=0,
        log_every=1,
        device="cpu",
        threads=1,
    )
    base.update(kw)
    return ToyConfig(**base)


def _params(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(latest_checkpoint(folder) / "model.safetensors"))


def test_loss_falls_on_repeated_batch(tmp_path):
    res = train(ToyStage, toy_cfg(tmp_path, steps=40, repeat_batch=True, noise=0.0))
    assert res.step == 40 and len(res.history) == 40
    assert res.last_loss() < 0.3 * res.first_loss()
    assert res.images_per_s > 0


def test_resume_is_exact(tmp_path):
    full = train(ToyStage, toy_cfg(tmp_path / "full", ckpt_every=4))
    part = train(ToyStage, toy_cfg(tmp_path / "part", ckpt_every=4), stop_after=5)
    assert part.step == 5
    again = train(ToyStage, toy_cfg(tmp_path / "part", ckpt_every=4))
    assert again.start_step == 5 and again.step == 12
    a, b = _params(tmp_path / "full"), _params(tmp_path / "part")
    assert set(a) == set(b) and any(k.startswith("ema.") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    oa = load_file(str(latest_checkpoint(tmp_path / "full") / "optim.safetensors"))
    ob = load_file(str(latest_checkpoint(tmp_path / "part") / "optim.safetensors"))
    for k in oa:
        assert torch.equal(oa[k], ob[k]), k
    # The losses after the resume point are the same as in the uninterrupted run.
    tail = [h["loss"] for h in full.history[5:]]
    assert tail == [h["loss"] for h in again.history]


def test_resume_off_starts_over(tmp_path):
    train(ToyStage, toy_cfg(tmp_path, steps=3))
    res = train(ToyStage, toy_cfg(tmp_path, steps=3, resume=False))
    assert res.start_step == 0 and res.step == 3
    assert len(list(tmp_path.glob("checkpoints.before-*"))) == 1  # the old run is kept aside


def test_checkpoint_layout_has_no_pickle(tmp_path):
    train(ToyStage, toy_cfg(tmp_path, steps=6, ckpt_every=2, keep_ckpts=2))
    root = tmp_path / "checkpoints"
    steps = sorted(p.name for p in root.glob("step_*"))
    assert steps == ["step_00000004", "step_00000006"]  # keep_ckpts=2 pruned step 2
    ck = latest_checkpoint(tmp_path)
    names = sorted(p.name for p in ck.iterdir())
    assert names == ["config.json", "model.safetensors", "optim.safetensors", "rng.safetensors", "state.json"]
    state = json.loads((ck / "state.json").read_text())
    assert state["step"] == 6 and state["data_position"]["samples_seen"] == 24
    cfg = json.loads((ck / "config.json").read_text())
    assert cfg["stage"] == "toy" and cfg["config"]["steps"] == 6
    assert json.loads((tmp_path / "config.json").read_text())["config"]["batch_size"] == 4
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]
    for p in tmp_path.rglob("*"):
        assert p.suffix not in (".pt", ".pth", ".pkl", ".ckpt")


def test_tensorboard_written_when_installed(tmp_path):
    pytest.importorskip("tensorboard")
    train(ToyStage, toy_cfg(tmp_path, steps=2, tensorboard=True))
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_tensorboard_missing_is_silent(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kw):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("no tensorboard")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    res = train(ToyStage, toy_cfg(tmp_path, steps=2, tensorboard=True))
    assert res.step == 2 and not (tmp_path / "tb").exists()


def test_time_budget_stops_early(tmp_path):
    res = train(ToyStage, toy_cfg(tmp_path, steps=10_000, max_minutes=1e-9))
    assert res.stopped_early and 1 <= res.step < 10_000
    assert latest_checkpoint(tmp_path) is not None


def test_nan_loss_is_reported(tmp_path):
    class Bad(ToyStage):
        def train_step(self, batch, step):
            loss = self.nets["net"](batch[0]).sum() * float("nan")
            self.trainer.backward(loss)
            return {"loss": 0.0}

    with pytest.raises(FloatingPointError, match="lower --lr"):
        train(Bad, toy_cfg(tmp_path, steps=2))


# ------------------------------------------------------------------------------------------------
# config override parsing

from training.config import (  # noqa: E402
    ConfigError,
    HelpRequested,
    config_from_dict,
    config_to_dict,
    parse_config,
)


def test_overrides_of_every_kind():
    cfg = parse_config(
        ToyConfig,
        [
            "--steps",
            "7",
            "--batch-size=2",
            "--lr",
            "1e-3",
            "--no-amp",
            "--repeat-batch",
            "--data",
            "folder:/x",
        ],
    )
    assert (cfg.steps, cfg.batch_size, cfg.lr, cfg.amp, cfg.repeat_batch) == (7, 2, 1e-3, False, True)
    assert cfg.data == "folder:/x" and cfg.hidden == 16
    cfg = parse_config(ToyConfig, ["--amp", "false", "--tiny", "--steps", "1e3", "--hidden", "32"])
    assert cfg.amp is False and cfg.tiny is True and cfg.steps == 1000 and cfg.hidden == 32
    # base config + overrides; JSON round trip
    again = parse_config(ToyConfig, ["--seed", "5"], base=cfg)
    assert again.hidden == 32 and again.seed == 5
    assert config_from_dict(ToyConfig, config_to_dict(again)) == again


def test_tuple_and_optional_fields():
    from dataclasses import dataclass as dc

    @dc
    class C(TrainConfig):
        channels: tuple[int, ...] = (8, 4)
        note: str | None = None

    cfg = parse_config(C, ["--channels", "16,8,4", "--note", "hi"])
    assert cfg.channels == (16, 8, 4) and cfg.note == "hi"
    assert parse_config(C, ["--note", "none"]).note is None
    with pytest.raises(ConfigError, match="--channels expects a comma-separated list of integers"):
        parse_config(C, ["--channels", "16,x"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--stepz", "3"], "unknown option --stepz; did you mean --steps?"),
        (["--steps", "ten"], "--steps expects an integer, got 'ten'"),
        (["--steps", "2.5"], "--steps expects an integer"),
        (["--lr", "fast"], "--lr expects a number"),
        (["--amp", "maybe"], "--amp expects true or false"),
        (["--steps"], "--steps needs a value"),
        (["--steps", "--lr", "1"], "--steps needs a value"),
        (["steps", "3"], "unexpected argument 'steps'"),
        (["--device", "tpu"], "--device must be one of auto, cpu, cuda, got 'tpu'"),
        (["--size", "100"], "--size must be a multiple of 32"),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
        (["--ema-decay", "1.5"], "--ema-decay must lie in"),
    ],
)
def test_bad_overrides_give_clear_errors(argv, message):
    with pytest.raises(ConfigError) as e:
        parse_config(ToyConfig, argv)
    assert message in str(e.value)


def test_help_lists_fields():
    with pytest.raises(HelpRequested) as e:
        parse_config(ToyConfig, ["--help"])
    text = str(e.value)
    assert "--batch-size" in text and "--hidden" in text and "default 8" in text


class TwoRateToy(ToyStage):
    """The toy with a second optimiser at four times the rate (like a discriminator's)."""

    def build_optimizers(self):
        first, second = self.nets["net"][0], self.nets["net"][2]
        self.optimizers["opt"] = torch.optim.Adam(first.parameters(), lr=self.cfg.lr)
        self.optimizers["opt2"] = torch.optim.Adam(second.parameters(), lr=4 * self.cfg.lr)

    def train_step(self, batch, step):
        out = super().train_step(batch, step)
        self.trainer.step(self.optimizers["opt2"])
        out["lr2"] = self.optimizers["opt2"].param_groups[0]["lr"]
        return out


def test_cosine_schedule_scales_every_optimiser_from_its_start(tmp_path):
    cfg = toy_cfg(tmp_path / "full", lr_schedule="cosine", lr_decay_from=4, ckpt_every=3)
    full = train(TwoRateToy, cfg)
    lrs = [h["lr"] for h in full.history]
    assert lrs[:5] == [pytest.approx(3e-2)] * 5  # constant up to the decay start
    tail = lrs[4:]
    assert all(a > b for a, b in zip(tail, tail[1:], strict=False)) and tail[-1] > 0.05 * 3e-2
    assert [h["lr2"] for h in full.history] == pytest.approx([4 * v for v in lrs])
    assert cfg.lr_factor(4) == 1.0 and cfg.lr_factor(12) == pytest.approx(0.05)
    # resuming in the middle of the decay gives the same run
    train(TwoRateToy, dataclasses.replace(cfg, out=str(tmp_path / "part")), stop_after=7)
    again = train(TwoRateToy, dataclasses.replace(cfg, out=str(tmp_path / "part")))
    assert [h["lr"] for h in again.history] == lrs[7:]
    a, b = _params(tmp_path / "full"), _params(tmp_path / "part")
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_constant_schedule_leaves_rates_alone(tmp_path):
    res = train(TwoRateToy, toy_cfg(tmp_path))
    assert "lr" not in res.history[0] and {h["lr2"] for h in res.history} == {4 * 3e-2}
