"""Stage ``flow``: the continuous normalising flow over encoder styles (paper 000 Eq. 7-8).

Maximum likelihood: minimise ``-log p(s | class)`` (`StyleFlow.log_prob`, Hutchinson trace by default)
over the style vectors that a frozen encoder (``--encoder-from``, the generator stage's output) gives
for every region present in a face. Before the first step the flow's per-class normalisation
(``mean``, ``std`` buffers) is set from ``--stats-samples`` training faces, so the ODE works on
unit-scale inputs. The reported ``loss`` is the negative log-likelihood in nats per style dimension.

On the synthetic corpus the stage trains on a pool of ``--pool`` faces whose encoder styles are kept
after first use (`StyleCache`), so most steps cost only the ODE solve.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch

from engine.labels import NUM_CLASSES
from training.config import TrainConfig
from training.loop import Stage
from training.stages.common import StyleCache, net_configs, pooled_source, require_nets

__all__ = ["FlowStageConfig", "FlowStage", "present_styles"]


@dataclass
class FlowStageConfig(TrainConfig):
    """Train the CNF (StyleFlow) by maximum likelihood over encoder styles."""

    out: str = "runs/flow"
    lr: float = 1e-3
    batch_size: int = 16
    ema_decay: float = 0.99
    encoder_from: str = field(default="", metadata={"help": "folder with the trained encoder"})
    stats_samples: int = field(default=256, metadata={"help": "faces used for the normalisation stats"})
    ode_steps: int = field(default=8, metadata={"help": "RK4 steps of the ODE solve while training"})
    exact_trace: bool = field(default=False, metadata={"help": "exact divergence (slow) not Hutchinson"})
    min_area: float = field(
        default=0.002, metadata={"help": "regions smaller than this fraction are skipped"}
    )
    pool: int = field(
        default=4000,
        metadata={"help": "synthetic faces to train on, styles cached (0 = a new face each time)"},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.stats_samples < 1 or self.ode_steps < 1:
            raise ValueError("--stats-samples and --ode-steps must be >= 1")
        if self.pool < 0:
            raise ValueError(f"--pool must be >= 0, got {self.pool}")


def present_styles(styles: torch.Tensor, area: torch.Tensor, min_area: float):
    """The style vectors of every region larger than ``min_area``: ``(styles [N,S], class ids [N])``."""
    present = area > min_area
    ids = torch.arange(NUM_CLASSES, device=styles.device).expand_as(present)
    return styles[present], ids[present]


class FlowStage(Stage):
    name = "flow"
    config_cls = FlowStageConfig
    ema_names = ("flow",)

    def build_nets(self) -> None:
        from engine.models.flow import StyleFlow

        enc = require_nets(
            self.cfg.encoder_from, ("encoder",), "encoder-from", "the flow models encoder styles"
        )
        self.frozen["encoder"] = enc["encoder"]
        base = net_configs(self.cfg.tiny)["flow"]
        s = enc["encoder"].cfg.style_dim
        self.nets["flow"] = StyleFlow(dataclasses.replace(base, style_dim=s))
        cfg = self.cfg
        source = pooled_source(cfg.data, cfg.size, first_seed=cfg.first_seed, seed=cfg.seed, pool=cfg.pool)
        self.styles = StyleCache(source, self.frozen["encoder"], self.device, keep=cfg.pool > 0)

    def build_optimizers(self) -> None:
        self.optimizers["flow"] = torch.optim.Adam(self.nets["flow"].parameters(), lr=self.cfg.lr)

    def on_start(self, start_step: int) -> None:
        if start_step == 0:
            self.set_stats()

    @torch.no_grad()
    def set_stats(self) -> None:
        """Per-class mean/std of encoder styles over faces numbered from 10**9 (identical on every
        process; with a pool these are pool faces, in another order than training's)."""
        cfg, enc = self.cfg, self.frozen["encoder"]
        s = enc.cfg.style_dim
        total = torch.zeros(NUM_CLASSES, s, dtype=torch.float64)
        sq = torch.zeros_like(total)
        count = torch.zeros(NUM_CLASSES, dtype=torch.float64)
        chunk = 8
        for start in range(0, cfg.stats_samples, chunk):
            ks = range(start, min(start + chunk, cfg.stats_samples))
            st, ids = present_styles(*self.styles([10**9 + k for k in ks]), cfg.min_area)
            st, ids = st.double().cpu(), ids.cpu()
            total.index_add_(0, ids, st)
            sq.index_add_(0, ids, st * st)
            count.index_add_(0, ids, torch.ones_like(ids, dtype=torch.float64))
        seen = count > 0
        n = count.clamp_min(1)[:, None]
        mean = torch.where(seen[:, None], total / n, torch.zeros_like(total))
        var = (sq / n - mean**2).clamp_min(0)
        std = torch.where(count[:, None] > 1, var.sqrt(), torch.ones_like(var)).clamp_min(1e-3)
        self.nets["flow"].set_normalisation(mean.float(), std.float())
        if self.ema is not None:
            self.ema.shadow["flow"].set_normalisation(mean.float(), std.float())

    def make_batch(self, positions: list[int], step: int):
        return present_styles(*self.styles(positions), self.cfg.min_area)

    def train_step(self, batch, step: int) -> dict[str, float]:
        styles, ids = batch
        flow = self.nets["flow"]
        # No autocast: the ODE solve and the log-determinant want full precision.
        logp = flow.log_prob(
            styles,
            ids,
            exact_trace=self.cfg.exact_trace,
            steps=self.cfg.ode_steps,
            generator=self.trainer.generator(step, self.trainer.dist.rank),
        )
        nll = -logp.float().mean() / styles.shape[1]
        self.trainer.backward(nll)
        self.trainer.step(self.optimizers["flow"])
        return {"loss": nll.item(), "regions": float(styles.shape[0])}

    def export(self):
        return {"flow": self.averaged("flow")}
