"""Training throughput: images/s of one stage, and the speed-up of 2-process data parallelism.

``facepaint-train bench <stage> [--steps N] [--warmup N] [--ddp] [--world 2] [stage options]`` prints
one JSON object. From Python: `throughput` and `ddp_speedup`. `run_distributed` (also used by the DDP
tests) starts ``world`` processes with ``torch.multiprocessing`` (spawn, never fork), each joining a gloo
(CPU) or NCCL (CUDA) process group exactly as ``torchrun`` would set it up.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import sys
import tempfile
from pathlib import Path

from training.config import ConfigError, HelpRequested, config_to_dict, parse_config

__all__ = ["throughput", "ddp_speedup", "run_distributed", "main"]


#: how many ports run_distributed tries when the chosen one was taken in the meantime
PORT_TRIES = 3


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, stage: str, cfg_cls_path: str, cfg: dict, result: str):
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(world),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
    )
    import importlib

    from training.config import config_from_dict
    from training.loop import stage_class, train

    mod, name = cfg_cls_path.split(":")
    cfg_obj = config_from_dict(getattr(importlib.import_module(mod), name), cfg)
    res = train(stage_class(stage), cfg_obj)
    if rank == 0:
        payload = {
            "step": res.step,
            "wall_s": res.wall_s,
            "images_per_s": res.images_per_s,
            "step_times": res.step_times,
            "history": res.history,
            "device": res.device,
            "world": res.world,
        }
        Path(result).write_text(json.dumps(payload), encoding="utf-8")


def run_distributed(stage, cfg, world: int = 2) -> dict:
    """Train ``stage`` (a name or a Stage class importable by reference) in ``world`` processes.

    Returns rank 0's summary: step, wall_s, images_per_s, step_times, history, device, world.
    """
    import torch.multiprocessing as mp

    from training.loop import Stage

    if isinstance(stage, type) and issubclass(stage, Stage):
        stage = f"{stage.__module__}:{stage.__qualname__}"
    cls = type(cfg)
    cls_path = f"{cls.__module__}:{cls.__qualname__}"
    with tempfile.TemporaryDirectory() as tmp:
        result = os.path.join(tmp, "result.json")
        for attempt in range(PORT_TRIES):
            # The port is free when _free_port closes its socket, but another program may take it before
            # rank 0 listens on it; then rank 0 fails at once and a fresh port is tried.
            args = (world, _free_port(), stage, cls_path, config_to_dict(cfg), result)
            try:
                mp.start_processes(_worker, args=args, nprocs=world, join=True, start_method="spawn")
                break
            except mp.ProcessRaisedException as e:
                text = str(e).lower()
                if attempt + 1 == PORT_TRIES or not (
                    "eaddrinuse" in text or "address already in use" in text
                ):
                    raise
        return json.loads(Path(result).read_text(encoding="utf-8"))


def _rate(step_times: list[float], batch: int, warmup: int) -> float:
    """Images/s over the steps after ``warmup`` (the first steps pay for allocation and caches)."""
    if len(step_times) <= warmup:
        raise ValueError(f"need more than {warmup} steps to measure throughput, got {len(step_times)}")
    t0 = step_times[warmup - 1] if warmup > 0 else 0.0
    return (len(step_times) - warmup) * batch / (step_times[-1] - t0)


def _bench_cfg(stage: str, steps: int, warmup: int, out: str, overrides: dict):
    from training.loop import stage_class

    cls = stage_class(stage).config_cls
    kw = dict(progress=False, tensorboard=False, ckpt_every=0, resume=False, log_every=0)
    kw.update(overrides)
    kw.update(out=out, steps=steps + warmup)
    return cls(**kw)


def throughput(stage: str, steps: int, *, warmup: int = 2, **overrides) -> float:
    """Images/s of ``stage`` in this process over ``steps`` steps (after ``warmup`` steps)."""
    from training.loop import stage_class, train

    with tempfile.TemporaryDirectory() as tmp:
        cfg = _bench_cfg(stage, steps, warmup, tmp, overrides)
        res = train(stage_class(stage), cfg)
        return _rate(res.step_times, cfg.batch_size, warmup)


def ddp_speedup(stage: str, steps: int, *, world: int = 2, warmup: int = 2, **overrides) -> dict:
    """Images/s of one process (all cores) vs ``world`` processes (cores split) at the same global batch."""
    cores = os.cpu_count() or 1
    single = throughput(stage, steps, warmup=warmup, **{"threads": cores, **overrides})
    with tempfile.TemporaryDirectory() as tmp:
        over = {"threads": max(1, cores // world), **overrides}
        cfg = _bench_cfg(stage, steps, warmup, tmp, over)
        res = run_distributed(stage, cfg, world)
        multi = _rate(res["step_times"], cfg.batch_size, warmup)
    return {
        "stage": stage,
        "world": world,
        "global_batch": cfg.batch_size,
        "size": cfg.size,
        "cores": cores,
        "device": res["device"],
        "single_images_per_s": round(single, 3),
        "ddp_images_per_s": round(multi, 3),
        "speedup": round(multi / single, 3),
    }


def main(argv: list[str] | None = None) -> int:
    from training.loop import STAGES, stage_class

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in STAGES:
        print(
            "usage: facepaint-train bench <stage> [--steps N] [--warmup N] [--ddp] [--world 2] "
            f"[stage options]\nstages: {', '.join(STAGES)}",
            file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout,
        )
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    stage, rest = argv[0], argv[1:]
    base = stage_class(stage).config_cls
    extra = [
        ("warmup", int, dataclasses.field(default=2, metadata={"help": "untimed first steps"})),
        ("ddp", bool, dataclasses.field(default=False, metadata={"help": "also time world processes"})),
        ("world", int, dataclasses.field(default=2, metadata={"help": "processes for --ddp"})),
    ]
    bench_cls = dataclasses.make_dataclass(f"Bench{base.__name__}", extra, bases=(base,))
    try:
        cfg = parse_config(bench_cls, ["--steps", "10", "--out", "unused", *rest])
    except HelpRequested as h:
        print(h)
        return 0
    except ConfigError as e:
        print(f"facepaint-train bench: {e}", file=sys.stderr)
        return 2
    overrides = {
        f.name: getattr(cfg, f.name)
        for f in dataclasses.fields(base)
        if f.name not in ("out", "steps") and getattr(cfg, f.name) != f.default
    }
    if cfg.ddp:
        report = ddp_speedup(stage, cfg.steps, world=cfg.world, warmup=cfg.warmup, **overrides)
    else:
        rate = throughput(stage, cfg.steps, warmup=cfg.warmup, **overrides)
        report = {
            "stage": stage,
            "images_per_s": round(rate, 3),
            "batch_size": cfg.batch_size,
            "size": cfg.size,
        }
    print(json.dumps(report))
    return 0
