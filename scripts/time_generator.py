"""Time the default generator against the SEAN-sized yardstick on this machine's CPU.

Usage: python scripts/time_generator.py [--size 256] [--threads 2] [--rounds 5] [--runs 5]
                                         [--yard-runs 1] [--channels 256,128,64,16,16] [--no-yardstick]

Prints one JSON object: per network its parameter count and the latency of one regeneration
(batch 1, torch.inference_mode, random weights, after warm-up): the median over all runs, the lowest
per-round median and the minimum, and the ratios default / yardstick. The two networks are timed in
interleaved rounds so that both see the same background load; other processes share the CPU, so
repeat and prefer the lower medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from engine.models.generator import Generator, GeneratorConfig  # noqa: E402
from engine.models.layers import one_hot  # noqa: E402


def _inputs(cfg: GeneratorConfig, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    # A blocky random layout: 8x8 cells of random classes, upsampled to the image size.
    cells = torch.randint(0, cfg.num_classes, (1, 8, 8), generator=g)
    labels = cells.repeat_interleave(size // 8, 1).repeat_interleave(size // 8, 2)
    styles = torch.randn(1, cfg.num_classes, cfg.style_dim, generator=g)
    return one_hot(labels, cfg.num_classes), styles


class _Timed:
    def __init__(self, cfg: GeneratorConfig, size: int) -> None:
        torch.manual_seed(0)
        self.cfg = cfg
        self.net = Generator(cfg).eval()
        self.mask, self.styles = _inputs(cfg, size)
        self.size = size
        self.round_medians: list[float] = []
        self.times: list[float] = []

    def run(self, n: int) -> None:
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            out = self.net(self.mask, self.styles, noise_seed=0)
            ts.append(time.perf_counter() - t0)
        assert out.shape == (1, 3, self.size, self.size)
        self.times += ts
        self.round_medians.append(statistics.median(ts))

    def report(self) -> dict:
        cfg = self.cfg
        return {
            "config": {
                "channels": list(cfg.channels),
                "style_dim": cfg.style_dim,
                "mask_hidden": cfg.mask_hidden,
            },
            "params": sum(p.numel() for p in self.net.parameters()),
            "median_ms": round(1000 * statistics.median(self.times), 1),
            "best_round_median_ms": round(1000 * min(self.round_medians), 1),
            "min_ms": round(1000 * min(self.times), 1),
            "runs": len(self.times),
        }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default, then yardstick)")
    ap.add_argument("--runs", type=int, default=5, help="default-generator runs per round")
    ap.add_argument("--yard-runs", type=int, default=1, help="yardstick runs per round")
    ap.add_argument("--channels", type=str, default=None, help="override the default's channels")
    ap.add_argument("--mask-hidden", type=int, default=None)
    ap.add_argument("--no-yardstick", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    kw = {}
    if args.channels:
        kw["channels"] = tuple(int(c) for c in args.channels.split(","))
    if args.mask_hidden:
        kw["mask_hidden"] = args.mask_hidden
    default = _Timed(GeneratorConfig(**kw), args.size)
    yard = None if args.no_yardstick else _Timed(GeneratorConfig.yardstick(), args.size)
    with torch.inference_mode():
        for t in (default, yard):  # warm-up
            if t is not None:
                t.run(2)
                t.times.clear()
                t.round_medians.clear()
        # Interleaved rounds, so both networks see the same background load.
        for _ in range(args.rounds):
            default.run(args.runs)
            if yard is not None:
                yard.run(args.yard_runs)
    report = {
        "machine": f"{os.cpu_count()}-core CPU, torch {torch.__version__}, {args.threads} threads",
        "size": args.size,
        "default": default.report(),
    }
    if yard is not None:
        y = yard.report()
        report["yardstick"] = y
        d = report["default"]
        report["ratio_median"] = round(d["median_ms"] / y["median_ms"], 3)
        report["ratio_best_round"] = round(d["best_round_median_ms"] / y["best_round_median_ms"], 3)
        report["ratio_params"] = round(d["params"] / y["params"], 4)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
