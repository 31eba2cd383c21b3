"""Stage ``mrsa``: train the MRSA harmoniser on relit transfers, in style space (paper 000 Eq. 4-5).

A transfer pastes region styles of a source face (skin and/or hair, `TRANSFER_CHOICES`) into a
target's style set. The synthetic renderer also gives the exact answer: the target's geometry and light
with the source's appearance for those regions (`render_transfer_gt`). With a frozen encoder
(``--encoder-from``, the generator run) the loss is

    L = | MRSA(s_t, compose_reference(s_t, s_src, edited)) - E(gt) |_1   over the classes present,

so MRSA learns to carry the pasted regions into the target's light. The image generator is never
involved: a step costs a few milliseconds once the styles are known.

Rendering and encoding a triplet costs far more than the step, so the stage trains on a fixed pool of
``--triplets`` target seeds (walked in a fresh order every epoch) and keeps each triplet's encoder styles
in memory after its first use. The cache is pure memoisation: what a triplet gives depends only on its
seed (`KeyedMemo`), so a resumed run sees the same data as an uninterrupted one. ``--triplets 0`` draws
new triplets for every sample instead (no cache).

MRSA starts from the ``mrsa`` network of ``--encoder-from`` when that folder has one of the same shape.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch

from engine.models.mrsa import compose_reference
from training.config import TrainConfig
from training.loop import Stage
from training.stages.common import (
    KeyedMemo,
    init_matching,
    load_nets,
    net_configs,
    pooled_source,
    require_nets,
)
from training.stages.gen_data import transfer_triplets

__all__ = ["MRSAStageConfig", "MRSAStage"]


@dataclass
class MRSAStageConfig(TrainConfig):
    """Train MRSA to harmonise transferred region styles (style space, relit ground truth)."""

    out: str = "runs/mrsa"
    lr: float = 1e-3
    batch_size: int = 32
    ema_decay: float = 0.99
    encoder_from: str = field(default="", metadata={"help": "folder with the trained encoder (and mrsa)"})
    triplets: int = field(
        default=2000, metadata={"help": "pool of transfer triplets, cached after first use (0 = no pool)"}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.triplets < 0:
            raise ValueError(f"--triplets must be >= 0, got {self.triplets}")


class MRSAStage(Stage):
    name = "mrsa"
    config_cls = MRSAStageConfig
    ema_names = ("mrsa",)

    def build_nets(self) -> None:
        from engine.models.mrsa import MRSA

        cfg = self.cfg
        if cfg.data != "synthetic":
            raise ValueError(
                f"the mrsa stage needs the synthetic corpus (relit ground truth), not --data {cfg.data!r}"
            )
        enc = require_nets(cfg.encoder_from, ("encoder",), "encoder-from", "MRSA works on encoder styles")
        self.frozen["encoder"] = enc["encoder"]
        mcfg = dataclasses.replace(net_configs(cfg.tiny)["mrsa"], style_dim=enc["encoder"].cfg.style_dim)
        self.nets["mrsa"] = MRSA(mcfg)
        old = load_nets(cfg.encoder_from, ("mrsa",)).get("mrsa")
        if old is not None:
            init_matching(self.nets["mrsa"], old)
        self.source = pooled_source(
            cfg.data, cfg.size, first_seed=cfg.first_seed, seed=cfg.seed, pool=cfg.triplets
        )
        self._triplets = KeyedMemo(self._encode, keep=cfg.triplets > 0)

    def build_optimizers(self) -> None:
        self.optimizers["mrsa"] = torch.optim.Adam(self.nets["mrsa"].parameters(), lr=self.cfg.lr)

    @torch.no_grad()
    def _encode(self, seeds: list[int]) -> list[tuple[torch.Tensor, ...]]:
        """(s_t, s_src, s_gt, edited, present) per target seed."""
        tr = transfer_triplets(seeds, self.cfg.size, self.cfg.seed, 0, self.device)
        enc = self.frozen["encoder"]
        s_t = enc(tr.target.image, tr.target.mask).float()
        s_src = enc(tr.source.image, tr.source.mask).float()
        s_gt = enc(tr.gt.image, tr.gt.mask).float()
        present_t = tr.target.mask.flatten(2).sum(2) > 0
        present_s = tr.source.mask.flatten(2).sum(2) > 0
        edited = tr.edited & present_t & present_s
        return list(zip(s_t, s_src, s_gt, edited, present_t, strict=True))

    def make_batch(self, positions: list[int], step: int):
        rows = self._triplets([self.source.key_of(k) for k in positions])
        return tuple(torch.stack(col) for col in zip(*rows, strict=True))

    def train_step(self, batch, step: int) -> dict[str, float]:
        s_t, s_src, s_gt, edited, present = batch
        s_r = compose_reference(s_t, s_src, edited)
        out = self.nets["mrsa"](s_t, s_r)
        w = present.unsqueeze(-1).float()
        denom = (w.sum() * out.shape[-1]).clamp_min(1)
        loss = ((out - s_gt).abs() * w).sum() / denom
        self.trainer.backward(loss)
        self.trainer.step(self.optimizers["mrsa"])
        with torch.no_grad():
            e = edited.unsqueeze(-1).float()
            e_den = (e.sum() * out.shape[-1]).clamp_min(1)
            logs = {
                "loss": loss.item(),
                "edited_l1": float(((out - s_gt).abs() * e).sum() / e_den),
                "edited_l1_off": float(((s_r - s_gt).abs() * e).sum() / e_den),
            }
        return logs

    def export(self):
        return {"mrsa": self.averaged("mrsa")}
