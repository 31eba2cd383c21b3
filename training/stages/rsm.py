"""Stage ``rsm``: random style mapping networks, trained adversarially in style space (paper 000 Eq. 6).

For every group of ``engine.labels.RSM_GROUPS`` (skin+nose, both eyes, mouth+lips, hair, ...) a mapping
network M_j(z) produces the group's style vectors and a `StyleDiscriminator` D_j tells them from the
styles a frozen encoder (``--encoder-from``) gives for real faces. Hinge loss, Adam(0.5, 0.999),
lr 2e-4 for both, as in the paper. The image generator is never involved.

Only faces in which every class of a group is present give real samples for that group; a group with no
real sample in the batch is skipped that step (classes that never occur in the data, such as hats on the
synthetic corpus, keep their untrained mapping).

A small moment-matching term (``--moment-weight``: L1 between the batch mean and standard deviation of
real and mapped styles) steadies training with small batches. The reported ``loss`` is that moment gap,
averaged over the groups: unlike the adversarial terms it goes down as the mapped styles approach the
real distribution.

On the synthetic corpus the stage trains on a pool of ``--pool`` faces whose encoder styles are kept
after first use (`StyleCache`): rendering and encoding, not the style-space step, would otherwise take
nearly all the time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from engine.labels import RSM_GROUPS
from training.config import TrainConfig
from training.loop import Stage
from training.stages.common import StyleCache, net_configs, pooled_source, require_nets

__all__ = ["RSMStageConfig", "RSMStage"]


@dataclass
class RSMStageConfig(TrainConfig):
    """Train the RSM mapping networks against encoder styles (style-space GAN)."""

    out: str = "runs/rsm"
    lr: float = 2e-4
    lr_d: float = field(default=2e-4, metadata={"help": "discriminator learning rate"})
    batch_size: int = 16
    ema_decay: float = 0.99
    encoder_from: str = field(default="", metadata={"help": "folder with the trained encoder"})
    moment_weight: float = field(default=1.0, metadata={"help": "moment-matching weight (0 = pure GAN)"})
    min_area: float = field(default=0.002, metadata={"help": "a class smaller than this fraction is absent"})
    pool: int = field(
        default=4000,
        metadata={"help": "synthetic faces to train on, styles cached (0 = a new face each time)"},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.pool < 0:
            raise ValueError(f"--pool must be >= 0, got {self.pool}")


class RSMStage(Stage):
    name = "rsm"
    config_cls = RSMStageConfig
    ema_names = ("rsm",)

    def build_nets(self) -> None:
        from engine.models.mapping import RSMBank, StyleDiscriminator

        enc = require_nets(self.cfg.encoder_from, ("encoder",), "encoder-from", "RSM learns encoder styles")
        self.frozen["encoder"] = enc["encoder"]
        s = enc["encoder"].cfg.style_dim
        cfgs = net_configs(self.cfg.tiny)
        self.nets["rsm"] = RSMBank(dataclasses.replace(cfgs["rsm"], style_dim=s))
        dcfg = dataclasses.replace(cfgs["rsm_disc"], style_dim=s)
        self.nets["disc"] = nn.ModuleDict(
            {g: StyleDiscriminator(dataclasses.replace(dcfg, group=g)) for g in RSM_GROUPS}
        )
        cfg = self.cfg
        source = pooled_source(cfg.data, cfg.size, first_seed=cfg.first_seed, seed=cfg.seed, pool=cfg.pool)
        self.styles = StyleCache(source, self.frozen["encoder"], self.device, keep=cfg.pool > 0)

    def build_optimizers(self) -> None:
        betas = (0.5, 0.999)
        self.optimizers["rsm"] = torch.optim.Adam(self.nets["rsm"].parameters(), lr=self.cfg.lr, betas=betas)
        self.optimizers["disc"] = torch.optim.Adam(
            self.nets["disc"].parameters(), lr=self.cfg.lr_d, betas=betas
        )

    def make_batch(self, positions: list[int], step: int):
        styles, area = self.styles(positions)
        return styles, area > self.cfg.min_area

    def _real(self, styles, present, group):
        cls = list(RSM_GROUPS[group])
        rows = present[:, cls].all(dim=1)
        return styles[rows][:, cls]

    def train_step(self, batch, step: int) -> dict[str, float]:
        styles, present = batch
        rsm, disc = self.nets["rsm"], self.nets["disc"]
        b = styles.shape[0]
        z_dim = rsm.cfg.z_dim
        groups = [g for g in RSM_GROUPS if self._real(styles, present, g).shape[0] > 0]
        z = {g: torch.randn(b, z_dim, device=self.device) for g in groups}

        # Discriminators: real encoder styles vs mapped noise (hinge).
        d_loss = styles.new_zeros(())
        for g in groups:
            with torch.no_grad():
                fake = rsm(z[g], g)
            real = self._real(styles, present, g)
            d_loss = d_loss + F.relu(1 - disc[g](real)).mean() + F.relu(1 + disc[g](fake)).mean()
        if groups:
            self.trainer.backward(d_loss / len(groups))
        self.trainer.step(self.optimizers["disc"])

        # Mapping networks: fool D, plus the moment-matching term.
        disc.requires_grad_(False)  # no discriminator gradients from the mapping step
        g_loss = styles.new_zeros(())
        gap_total = 0.0
        for g in groups:
            fake = rsm(z[g], g)
            real = self._real(styles, present, g)
            adv = -disc[g](fake).mean()
            gap = (fake.mean(0) - real.mean(0)).abs().mean()
            if real.shape[0] > 1:
                gap = gap + (fake.std(0) - real.std(0)).abs().mean()
            gap_total += gap.item()
            g_loss = g_loss + adv + self.cfg.moment_weight * gap
        if groups:
            self.trainer.backward(g_loss / len(groups))
        self.trainer.step(self.optimizers["rsm"])
        disc.requires_grad_(True)
        n = max(len(groups), 1)
        return {"loss": gap_total / n, "d_loss": d_loss.item() / n, "g_loss": g_loss.item() / n}

    def export(self):
        return {"rsm": self.averaged("rsm")}
