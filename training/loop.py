"""The one training loop every stage runs on.

A stage (``training/stages/*.py``) subclasses `Stage` and says *what* to train: its networks, optimisers,
how to turn sample numbers into a batch and what one optimisation step does. `train` does the rest:

- **Processes.** Under ``torchrun`` it joins the process group (gloo on CPU, NCCL on CUDA, see
  `training.dist`); each process renders its slice of every global batch and gradients are averaged
  before each optimiser step. Progress bars, logs, checkpoints and exported nets come from rank 0 only.
- **Data.** Rendered in the main process, on the fly: step ``s`` owns samples ``s*B .. s*B+B-1``, so the
  data position is just the step (no DataLoader workers: a forked worker deadlocked with torch on CPU).
- **Determinism.** Every step reseeds torch, numpy and Python from ``(seed, step, rank)``, so a resumed
  run repeats exactly what an uninterrupted one does (the RNG states are also saved and restored).
- **Precision.** Autocast on CUDA only (bf16 where supported, else fp16 with a gradient scaler).
- **EMA** of the networks the stage names (the exported weights are the averages).
- **Checkpoints** (`training.checkpoint`, safetensors + JSON, never pickle) every ``ckpt_every`` steps
  and at the end, with the config beside each; ``resume`` continues from the newest.
- **Logging.** TensorBoard scalars and image grids when tensorboard is installed (silently skipped
  otherwise), a tqdm bar, and ``<out>/log.jsonl``.
- **Export.** At the end the stage's nets (EMA copies where kept) go to ``<out>/nets`` as a partial
  model bundle (`engine.bundle.save_bundle`), which later stages and the bundle builder load.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from training import dist as tdist
from training.checkpoint import EMA, latest_checkpoint, load_checkpoint, save_checkpoint
from training.config import TrainConfig, config_to_dict, save_config

__all__ = ["Stage", "Trainer", "TrainResult", "train"]


class Trainer:
    """What a stage's `Stage.train_step` gets to run one step: device, precision, backward and step."""

    def __init__(self, cfg: TrainConfig, info: tdist.DistInfo) -> None:
        self.cfg = cfg
        self.dist = info
        self.device = info.device
        cuda = info.device.type == "cuda"
        self.amp = bool(cfg.amp and cuda)
        self.amp_dtype = None
        self.scaler = None
        if self.amp:
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            if self.amp_dtype == torch.float16:
                self.scaler = torch.amp.GradScaler("cuda")

    def autocast(self):
        """Mixed precision on CUDA; a no-op context on the CPU."""
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.amp_dtype)

    def backward(self, loss: torch.Tensor) -> None:
        if not torch.isfinite(loss.detach()).all():
            raise FloatingPointError(f"the loss became {loss.item()}; lower --lr or check the data")
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def step(self, opt: torch.optim.Optimizer) -> None:
        """Average gradients over processes, unscale, clip, step and zero the optimiser's gradients."""
        params = [p for g in opt.param_groups for p in g["params"]]
        tdist.average_gradients(params)
        if self.scaler is not None:
            self.scaler.unscale_(opt)
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], self.cfg.grad_clip)
        if self.scaler is not None:
            self.scaler.step(opt)
        else:
            opt.step()
        opt.zero_grad(set_to_none=True)

    def generator(self, step: int, *tags: int) -> torch.Generator:
        """A CPU torch generator seeded by ``(seed, step, *tags)``: the same on every process."""
        return torch.Generator().manual_seed(tdist.mix_seed(self.cfg.seed, step, *tags))


class Stage:
    """Base class of a training stage. Subclasses set ``name`` and ``config_cls`` and implement the
    methods below; `train` calls them in this order: `build_nets`, `build_optimizers`, then per step
    `make_batch` and `train_step`."""

    name: ClassVar[str] = "stage"
    config_cls: ClassVar[type] = TrainConfig
    #: Networks whose exponential moving average is kept and exported.
    ema_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfg: TrainConfig, trainer: Trainer) -> None:
        self.cfg = cfg
        self.trainer = trainer
        self.device = trainer.device
        self.nets: dict[str, nn.Module] = {}
        self.frozen: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.ema: EMA | None = None

    # ---- to implement
    def build_nets(self) -> None:
        """Fill ``self.nets`` (trained, checkpointed) and ``self.frozen`` (helpers, not saved)."""
        raise NotImplementedError

    def build_optimizers(self) -> None:
        """Fill ``self.optimizers`` (nets are already on the device)."""
        raise NotImplementedError

    def make_batch(self, positions: list[int], step: int) -> Any:
        """Render/load the samples numbered ``positions`` and put them on the device."""
        raise NotImplementedError

    def train_step(self, batch: Any, step: int) -> dict[str, float]:
        """One optimisation step; return scalars, ``loss`` being the headline figure."""
        raise NotImplementedError

    # ---- optional
    def visuals(self, batch: Any) -> dict[str, torch.Tensor]:
        """Images ``[B,3,H,W]`` in [-1,1] for the TensorBoard grid."""
        return {}

    def export(self) -> dict[str, nn.Module]:
        """Networks for the model bundle (engine names); EMA copies where kept."""
        return {}

    def on_start(self, start_step: int) -> None:
        """Called once before the first step (after resuming)."""

    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def averaged(self, name: str) -> nn.Module:
        """The EMA copy of ``name`` if one is kept, else the live network."""
        if self.ema is not None and name in self.ema.shadow:
            return self.ema.shadow[name]
        return self.nets[name]


@dataclass
class TrainResult:
    stage: str
    out: Path
    start_step: int
    step: int
    wall_s: float
    images_per_s: float
    history: list[dict] = field(default_factory=list)
    nets_dir: Path | None = None
    device: str = ""
    world: int = 1
    stopped_early: bool = False
    #: seconds since the loop started, after each step (rank 0)
    step_times: list[float] = field(default_factory=list)
    nets: dict[str, nn.Module] = field(default_factory=dict, repr=False)

    def first_loss(self, key: str = "loss", n: int = 3) -> float:
        vals = [h[key] for h in self.history if key in h][:n]
        return sum(vals) / len(vals)

    def last_loss(self, key: str = "loss", n: int = 3) -> float:
        vals = [h[key] for h in self.history if key in h][-n:]
        return sum(vals) / len(vals)


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    random.seed(seed)


def _tensorboard(out: Path, enabled: bool):
    if not enabled:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard not installed (or broken): logging to it is optional
        return None
    return SummaryWriter(log_dir=str(out / "tb"))


def _grid(images: dict[str, torch.Tensor]) -> torch.Tensor | None:
    rows = [v.detach().float().cpu()[:4].clamp(-1, 1) for v in images.values() if v is not None]
    if not rows:
        return None
    h = min(r.shape[-2] for r in rows)
    rows = [torch.nn.functional.interpolate(r, size=(h, h)) if r.shape[-2] != h else r for r in rows]
    n = min(r.shape[0] for r in rows)
    grid = torch.cat([torch.cat(list(r[:n]), dim=2) for r in rows], dim=1)  # [3, rows*h, n*w]
    return (grid + 1) / 2


def train(stage_cls: type[Stage], cfg: TrainConfig, *, stop_after: int | None = None) -> TrainResult:
    """Train ``stage_cls`` with ``cfg`` up to ``cfg.steps`` (or ``stop_after`` steps, for tests)."""
    info = tdist.init_distributed(cfg.device)
    threads = torch.get_num_threads()
    try:
        return _train(stage_cls, cfg, info, stop_after)
    finally:
        torch.set_num_threads(threads)  # the loop's thread count is not left behind for the caller
        tdist.shutdown_distributed(info)


def _train(stage_cls: type[Stage], cfg: TrainConfig, info: tdist.DistInfo, stop_after: int | None):
    t0 = time.perf_counter()
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    elif info.device.type == "cpu":
        import os

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // info.world))
    out = Path(cfg.out)
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
    _seed_all(cfg.seed)  # identical initialisation on every process
    trainer = Trainer(cfg, info)
    stage = stage_cls(cfg, trainer)
    stage.build_nets()
    for m in list(stage.nets.values()) + list(stage.frozen.values()):
        m.to(info.device)
    for m in stage.frozen.values():
        m.eval().requires_grad_(False)
    tdist.broadcast_modules(list(stage.nets.values()))
    stage.build_optimizers()
    base_lrs = {n: [g["lr"] for g in o.param_groups] for n, o in stage.optimizers.items()}
    if cfg.ema_decay > 0 and stage.ema_names:
        stage.ema = EMA({n: stage.nets[n] for n in stage.ema_names}, cfg.ema_decay)
    cfg_dict = {"stage": stage.name, "type": type(cfg).__name__, "config": config_to_dict(cfg)}

    start = 0
    ckpt = latest_checkpoint(out) if cfg.resume else None
    if not cfg.resume and info.is_main and (out / "checkpoints").is_dir():
        # Starting over: keep the old run's checkpoints aside rather than mixing them with the new ones.
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside, n = out / f"checkpoints.before-{stamp}", 1
        while aside.exists():
            aside, n = out / f"checkpoints.before-{stamp}-{n}", n + 1
        (out / "checkpoints").rename(aside)
        print(f"--no-resume: moved the previous checkpoints to {aside}", file=sys.stderr)
    if ckpt is not None:
        state = load_checkpoint(
            ckpt, nets=stage.nets, optimizers=stage.optimizers, ema=stage.ema, scaler=trainer.scaler
        )
        start = int(state["step"])
        stage.load_extra_state(state.get("extra", {}))
    if info.is_main:
        save_config(cfg, out / "config.json", {"stage": stage.name})
    stage.on_start(start)

    writer = _tensorboard(out, cfg.tensorboard) if info.is_main else None
    end = cfg.steps if stop_after is None else min(cfg.steps, start + stop_after)
    bar = None
    if info.is_main and cfg.progress and end > start:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=start, desc=stage.name, dynamic_ncols=True)
    history: list[dict] = []
    step_times: list[float] = []
    log_path = out / "log.jsonl"
    stopped = False
    t_loop = time.perf_counter()
    final = start
    for step in range(start, end):
        _seed_all(tdist.mix_seed(cfg.seed, step, info.rank))
        positions = tdist.sample_positions(step, cfg.batch_size, info.rank, info.world, cfg.repeat_batch)
        batch = stage.make_batch(positions, step)
        for m in stage.nets.values():
            m.train()
        for opt in stage.optimizers.values():
            opt.zero_grad(set_to_none=True)
        if cfg.lr_schedule != "constant":
            factor = cfg.lr_factor(step)
            for name, opt in stage.optimizers.items():
                for group, base in zip(opt.param_groups, base_lrs[name], strict=True):
                    group["lr"] = base * factor
        scalars = stage.train_step(batch, step)
        if cfg.lr_schedule != "constant":
            scalars.setdefault("lr", cfg.lr * factor)
        if trainer.scaler is not None:
            trainer.scaler.update()
        if stage.ema is not None:
            stage.ema.update(stage.nets, step)
        done = final = step + 1
        scalars = tdist.all_mean({k: float(v) for k, v in scalars.items()}, info.device)
        if any(not math.isfinite(v) for v in scalars.values()):
            raise FloatingPointError(f"step {done}: non-finite training scalars {scalars}")
        if info.is_main:
            step_times.append(time.perf_counter() - t_loop)
            history.append({"step": done, **scalars})
            if cfg.log_every and (done % cfg.log_every == 0 or done == end):
                with log_path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps({"step": done, **scalars}) + "\n")
                if writer is not None:
                    for k, v in scalars.items():
                        writer.add_scalar(f"{stage.name}/{k}", v, done)
            if writer is not None and cfg.image_every and done % cfg.image_every == 0:
                with torch.no_grad():
                    grid = _grid(stage.visuals(batch))
                if grid is not None:
                    writer.add_image(f"{stage.name}/samples", grid, done)
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in list(scalars.items())[:4]})
        if cfg.ckpt_every and done % cfg.ckpt_every == 0 and done < end:
            _save(stage, trainer, cfg, cfg_dict, out, done)
        over = cfg.max_minutes > 0 and (time.perf_counter() - t0) > cfg.max_minutes * 60
        if cfg.max_minutes > 0 and tdist.any_flag(over, info.device) and done < end:
            stopped = True
            break
    loop_s = time.perf_counter() - t_loop
    if bar is not None:
        bar.close()
    if final > start:
        _save(stage, trainer, cfg, cfg_dict, out, final)
    nets = stage.export()
    nets_dir = None
    if info.is_main and nets:
        from engine.bundle import save_bundle

        nets_dir = save_bundle(
            out / "nets",
            nets,
            resolution=cfg.size,
            extra_meta={"training": {"stage": stage.name, "steps": final, "config": cfg_dict["config"]}},
        )
    if writer is not None:
        writer.close()
    done_steps = final - start
    return TrainResult(
        stage=stage.name,
        out=out,
        start_step=start,
        step=final,
        wall_s=time.perf_counter() - t0,
        images_per_s=(done_steps * cfg.batch_size / loop_s) if done_steps and loop_s > 0 else 0.0,
        history=history,
        nets_dir=nets_dir,
        device=info.device_reason or str(info.device),
        world=info.world,
        stopped_early=stopped,
        step_times=step_times,
        nets=nets,
    )


def _save(stage: Stage, trainer: Trainer, cfg: TrainConfig, cfg_dict: dict, out: Path, step: int) -> None:
    if not trainer.dist.is_main:
        return
    save_checkpoint(
        out,
        step,
        nets=stage.nets,
        optimizers=stage.optimizers,
        ema=stage.ema,
        scaler=trainer.scaler,
        config=cfg_dict,
        extra=stage.extra_state(),
        data_position={"next_step": step, "samples_seen": step * cfg.batch_size, "repeat": cfg.repeat_batch},
        keep=cfg.keep_ckpts,
    )


#: Stage name -> "module:class" (imported lazily, so the CLI starts fast).
STAGES: dict[str, str] = {
    "parser": "training.stages.parser:ParserStage",
    "generator": "training.stages.generator:GeneratorStage",
    "mrsa": "training.stages.mrsa:MRSAStage",
    "rsm": "training.stages.rsm:RSMStage",
    "flow": "training.stages.flow:FlowStage",
    "harmony": "training.stages.harmony:HarmonyStage",
}


def stage_class(name: str | type[Stage]) -> type[Stage]:
    """A stage class from its name (``parser``, ``generator``, ...) or a "module:Class" path."""
    if isinstance(name, type):
        return name
    import importlib

    target = STAGES.get(name, name)
    if ":" not in target:
        raise ValueError(f"unknown stage {name!r}; choose one of: {', '.join(STAGES)}")
    mod, cls = target.split(":", 1)
    return getattr(importlib.import_module(mod), cls)
