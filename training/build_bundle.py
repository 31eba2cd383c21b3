"""``facepaint-train bundle``: every stage in order on the synthetic corpus, within a time budget.

Order and share of the budget (what a stage leaves unused goes to the ones after it):

    parser 12 %  ->  generator (mrsa) 40 %  ->  mrsa 6 %  ->  generator (msca) 18 %  ->  rsm 7 %  ->
    flow 7 %  ->  harmony 6 %  (about 4 % is kept for the export and the evaluation)

The generator stage uses the parser for its semantic-consistency loss; the mrsa stage, the msca variant,
rsm and flow use the encoder it trained. Stage runs live in ``--work`` (default ``<out>.work``) and resume from
their checkpoints if the command is run again. ``--stages mrsa,rsm`` trains only the runs named and
takes every other network from its finished run in ``--work`` (for example to retrain what depends
on a changed encoder); the budget is then shared among the runs named. The networks are exported with `engine.bundle.save_bundle`
to ``--out``, then `training.evaluate` writes ``evaluation.json`` (and PNG grids under ``evaluation/``)
and ``MODEL_CARD.md`` records the command, the data, the steps and wall time of each stage, the device
and the evaluation figures.

The GAN terms of the generator default to on with CUDA and off on the CPU (``--gan auto``), where they
cost about a third of the throughput and did not pay off within short budgets.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from training.config import ConfigError, parse_command
from training.model_card import model_card

__all__ = ["BundleBuildConfig", "build_bundle", "main", "PLAN"]

#: (run name, stage, share of the budget)
PLAN: tuple[tuple[str, str, float], ...] = (
    ("parser", "parser", 0.12),
    ("generator", "generator", 0.40),
    ("mrsa", "mrsa", 0.06),
    ("generator_msca", "generator", 0.18),
    ("rsm", "rsm", 0.07),
    ("flow", "flow", 0.07),
    ("harmony", "harmony", 0.06),
)
EVAL_RESERVE = 0.04


@dataclass
class BundleBuildConfig:
    """Train every stage on the synthetic corpus within a time budget and export a model bundle."""

    out: str = field(default="resources/models/default", metadata={"help": "bundle folder to write"})
    budget_minutes: float = field(default=60.0, metadata={"help": "wall-time budget for all stages"})
    tiny: bool = field(default=False, metadata={"help": "tiny nets, 64 px, a few steps (smoke test)"})
    size: int = field(default=128, metadata={"help": "training and bundle resolution (multiple of 32)"})
    parser_size: int = field(default=0, metadata={"help": "the parser's training and parsing size (0 = --size)"})
    parser_data: str = field(
        default="synthetic", metadata={"help": "the parser's corpus, e.g. synthetic*0.4+folder:REAL*0.6"}
    )
    steps: int = field(default=0, metadata={"help": "steps per stage (0 = as many as the budget allows)"})
    batch_size: int = field(default=0, metadata={"help": "global batch (0 = 8 on CPU, 32 on CUDA)"})
    device: str = field(default="auto", metadata={"choices": ("auto", "cpu", "cuda")})
    gan: str = field(default="auto", metadata={"choices": ("auto", "on", "off")})
    vgg_weights: str = field(default="", metadata={"help": "local VGG-19 weights for the perceptual loss"})
    work: str = field(default="", metadata={"help": "folder for the stage runs (default <out>.work)"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0 = all cores; --tiny: 1)"})
    seed: int = 0
    progress: bool = True
    eval_samples: int = field(default=32, metadata={"help": "held-out faces in the evaluation"})
    history: str = field(
        default="",
        metadata={
            "help": "markdown file put in the card as its training history (default <work>/HISTORY.md)"
        },
    )
    stages: str = field(
        default="",
        metadata={
            "help": "comma-separated runs to train (default all, none = only export); others are reused from --work"
        },
    )

    def __post_init__(self) -> None:
        if self.budget_minutes <= 0:
            raise ConfigError(f"--budget-minutes must be positive, got {self.budget_minutes}")
        if self.size < 32 or self.size % 32:
            raise ConfigError(f"--size must be a multiple of 32, got {self.size}")
        if self.steps < 0 or self.batch_size < 0 or self.eval_samples < 1:
            raise ConfigError("--steps and --batch-size must be >= 0 and --eval-samples >= 1")
        names = [r for r, _, _ in PLAN]
        bad = [r for r in self.selected() if r not in names]
        if bad:
            raise ConfigError(f"--stages: unknown run(s) {', '.join(bad)}; choose from {', '.join(names)}")

    def selected(self) -> list[str]:
        """The runs to train (every run of the plan when ``--stages`` is empty, none for ``none``)."""
        if self.stages.strip() == "none":
            return []
        picked = [r.strip() for r in self.stages.split(",") if r.strip()]
        return picked or [r for r, _, _ in PLAN]


def _stage_cfg(run: str, stage: str, bc: BundleBuildConfig, work: Path, minutes: float, cuda: bool):
    from training.loop import stage_class

    cls = stage_class(stage).config_cls
    tiny = bc.tiny
    batch = bc.batch_size or (2 if tiny else (32 if cuda else 8))
    steps = bc.steps or (3 if tiny else 10**9)
    kw = dict(
        data="synthetic",
        out=str(work / run),
        steps=steps,
        batch_size=batch,
        size=64 if tiny else bc.size,
        seed=bc.seed,
        device=bc.device,
        tiny=tiny,
        max_minutes=0.0 if tiny else minutes,
        ckpt_every=0 if tiny else 250,
        log_every=0 if tiny else 25,
        progress=bc.progress and not tiny,
        tensorboard=not tiny,
        threads=bc.threads or (1 if tiny else 0),
    )
    if stage == "parser":
        kw.update(data=bc.parser_data, size=64 if tiny else (bc.parser_size or bc.size))
    if stage == "generator":
        gan = bc.gan == "on" or (bc.gan == "auto" and cuda)
        kw.update(
            gan_weight=1.0 if gan else 0.0, vgg_weights=bc.vgg_weights, parser_from=str(work / "parser")
        )
        kw.update(lr=1e-4 if gan else 5e-4)
        if tiny:
            kw.update(harmony_batch=1, align_every=2, harmony_every=2)
        if run == "generator_msca":
            kw.update(variant="msca", init_from=str(work / "generator"))
    if stage in ("rsm", "flow", "mrsa"):
        kw.update(encoder_from=str(work / "generator"))
    if stage == "rsm":  # styles come from a cached pool: big batches are cheap
        kw.update(batch_size=bc.batch_size or (2 if tiny else 32))
    if stage == "mrsa":
        kw.update(batch_size=bc.batch_size or (2 if tiny else 32), triplets=4 if tiny else 2000)
    if stage == "flow" and tiny:
        kw.update(stats_samples=4, ode_steps=2)
    return cls(**kw)


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def _reuse(run: str, stage: str, work: Path) -> tuple[dict, dict]:
    """The networks of a finished run in ``work`` and its model-card entry (steps from its export)."""
    from training.stages.common import load_nets

    folder = work / run
    try:
        nets = load_nets(folder)
        meta = json.loads((folder / "nets" / "bundle.json").read_text(encoding="utf-8")).get("training", {})
    except (FileNotFoundError, ValueError, OSError) as e:
        raise ConfigError(
            f"run {run!r} is not in --stages, but {folder} has no finished run to reuse: {e}"
        ) from None
    cfg = meta.get("config", {})
    entry = {
        "run": run,
        "stage": stage,
        "networks": sorted(nets),
        "steps": meta.get("steps"),
        "batch_size": cfg.get("batch_size"),
        "size": cfg.get("size"),
        "wall_s": None,
        "reused": True,
        "images_per_s": None,
        "final": {},
        "options": {k: cfg[k] for k in ("lr", "gan_weight", "variant") if k in cfg},
    }
    return nets, entry


def build_bundle(bc: BundleBuildConfig, command: str = "") -> dict:
    """Run the plan, export the bundle, evaluate it and write the model card. Returns the summary."""
    from engine.bundle import save_bundle
    from training.evaluate import evaluate
    from training.loop import stage_class, train

    t0 = time.perf_counter()
    out = Path(bc.out)
    work = Path(bc.work) if bc.work else out.with_name(out.name + ".work")
    history_file = Path(bc.history) if bc.history else work / "HISTORY.md"
    if bc.history and not history_file.is_file():
        raise ConfigError(f"--history: {history_file} is not a file")
    cuda = bc.device != "cpu" and torch.cuda.is_available()
    threads = bc.threads or (1 if bc.tiny else (os.cpu_count() or 1))
    if cuda:
        device = f"CUDA {torch.cuda.get_device_name(0)}"
    else:
        device = f"CPU ({platform.machine()}, {os.cpu_count()} cores, {threads} torch threads)"
    budget = bc.budget_minutes * (1 - EVAL_RESERVE)
    runs, nets = [], {}
    chosen = bc.selected()
    for i, (run, stage, share) in enumerate(PLAN):
        if run not in chosen:
            reused, entry = _reuse(run, stage, work)
            nets.update(reused)
            runs.append(entry)
            continue
        left = budget - (time.perf_counter() - t0) / 60
        rest = sum(s for r, _, s in PLAN[i:] if r in chosen)
        minutes = max(left * share / rest, 0.05)
        cfg = _stage_cfg(run, stage, bc, work, minutes, cuda)
        res = train(stage_class(stage), cfg)
        nets.update(res.nets)
        last = res.history[-1] if res.history else {}
        runs.append(
            {
                "run": run,
                "stage": stage,
                "networks": sorted(res.nets),
                "steps": res.step,
                "batch_size": cfg.batch_size,
                "size": cfg.size,
                "wall_s": round(res.wall_s, 1),
                "budget_min": round(minutes, 2),
                "images_per_s": round(res.images_per_s, 2),
                "final": {k: round(v, 5) for k, v in last.items() if k != "step"},
                "options": {k: getattr(cfg, k) for k in ("lr", "gan_weight", "variant") if hasattr(cfg, k)}
                | ({"data": cfg.data} if cfg.data != "synthetic" else {}),
            }
        )
    resolution = 64 if bc.tiny else bc.size
    train_s = time.perf_counter() - t0
    summary = {
        "command": command,
        "data": "synthetic (training/data/synthetic.py), seeds from 1,000,000 rendered on the fly",
        "device": device,
        "torch": torch.__version__,
        "commit": _git_commit(),
        "budget_minutes": bc.budget_minutes,
        "train_wall_s": round(train_s, 1),
        "stages": runs,
    }
    meta = {"training": summary, "parser_resolution": 64 if bc.tiny else (bc.parser_size or bc.size)}
    save_bundle(out, nets, resolution=resolution, extra_meta=meta)
    ev_n = 2 if bc.tiny else bc.eval_samples
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        report = evaluate(
            out,
            out=out,
            grids_dir=out / "evaluation",
            samples=ev_n,
            pairs=2 if bc.tiny else 36,
            rsm_faces=1 if bc.tiny else 4,
            rsm_draws=2 if bc.tiny else 4,
            device="cuda" if cuda else "cpu",
        )
    finally:
        torch.set_num_threads(old_threads)
    summary["total_wall_s"] = round(time.perf_counter() - t0, 1)
    history = history_file.read_text(encoding="utf-8") if history_file.is_file() else ""
    (out / "MODEL_CARD.md").write_text(
        model_card(summary, report, resolution, history=history), encoding="utf-8"
    )
    return {"summary": summary, "evaluation": report, "out": str(out)}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    bc, code = parse_command(BundleBuildConfig, argv, "facepaint-train bundle")
    if bc is None:
        return code
    command = "facepaint-train bundle " + " ".join(shlex.quote(a) for a in argv)
    try:
        result = build_bundle(bc, command.strip())
    except ConfigError as e:
        print(f"facepaint-train bundle: error: {e}", file=sys.stderr)
        return 2
    ev = {k: v for k, v in result["evaluation"].items() if k != "meta"}
    print(json.dumps({"out": result["out"], "evaluation": ev}, indent=2))
    return 0
