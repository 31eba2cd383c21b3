"""Stage ``harmony``: the real-vs-composite scorer behind the harmony score (paper 000's metric).

`HarmonyScorer(image, region)` gives a logit, > 0 meaning "this region sits naturally in this face".
Training pairs, half real and half composite, each with the region it is about:

- real, untouched: a synthetic face and one of its regions;
- real, transferred: the exact relit transfer ground truth (`render_transfer_gt`: another face's skin
  and/or hair appearance under the target's own light), with the transferred regions;
- composite, pasted: the region's pixels copied from another face (its own light, shading and
  colour), sometimes with a feathered edge;
- composite, colour-shifted: the region's colours pushed off (per-channel gain and offset, or a hue
  turn), strong or subtle.

Binary cross-entropy on the logits. The randomness of sample ``k`` at step ``s`` depends on
``(seed, k, s)`` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from training.config import TrainConfig
from training.dist import mix_seed
from training.loop import Stage
from training.stages.common import SampleSource, images_to_tensor, net_configs

__all__ = ["HarmonyStageConfig", "HarmonyStage", "make_example", "REGION_GROUPS"]

#: Region groups a training example is about (names of training.data.synthetic.TRANSFER_GROUPS).
REGION_GROUPS = ("skin", "hair", "lips", "eyes", "brows", "cloth", "background")


@dataclass
class HarmonyStageConfig(TrainConfig):
    """Train the harmony scorer (real faces and relit transfers vs pasted or colour-shifted regions)."""

    out: str = "runs/harmony"
    lr: float = 1e-3
    batch_size: int = 16
    ema_decay: float = 0.99
    min_area: float = field(default=0.01, metadata={"help": "smallest region (fraction of the image)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.data.startswith("synthetic"):
            raise ValueError("the harmony stage needs relit ground truth: only --data synthetic is supported")


def _region(label: np.ndarray, group: str) -> np.ndarray:
    from training.data.synthetic import TRANSFER_GROUPS

    return np.isin(label, TRANSFER_GROUPS[group])


def _pick_group(label: np.ndarray, rng: np.random.Generator, min_area: float, groups=REGION_GROUPS) -> str:
    ok = [g for g in groups if _region(label, g).mean() >= min_area]
    return ok[int(rng.integers(len(ok)))] if ok else "background"


def make_example(seed: int, size: int, rng: np.random.Generator, min_area: float = 0.01):
    """One training example for face ``seed``: ``(image uint8 HxWx3, region bool HxW, is_real)``."""
    from training.data.synthetic import render_face, render_transfer_gt

    kind = int(rng.integers(4))
    other = seed + 7_777_777 + int(rng.integers(1, 1000))
    if kind == 1:  # real: relit transfer ground truth
        groups = (("skin",), ("hair",), ("skin", "hair"))[int(rng.integers(3))]
        target, _, gt = render_transfer_gt(seed, other, groups, size)
        region = np.zeros(target.label.shape, bool)
        for g in groups:
            region |= _region(target.label, g)
        if region.mean() >= min_area:
            return gt, region, True
        kind = 0
    face = render_face(seed, size)
    group = _pick_group(face.label, rng, min_area)
    region = _region(face.label, group)
    if kind == 0:
        return face.image, region, True
    img = face.image.astype(np.float32)
    alpha = region.astype(np.float32)
    if rng.random() < 0.5:
        alpha = cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.5, 2.0) * size / 128) * region
    if kind == 2:  # composite: pasted from another face
        src = render_face(other, size).image.astype(np.float32)
        out = img * (1 - alpha[..., None]) + src * alpha[..., None]
    else:  # composite: colour shift
        if rng.random() < 0.5:
            gain = rng.uniform(0.6, 1.4, 3)
            offset = rng.uniform(-40, 40, 3)
            if rng.random() < 0.5:  # subtle
                gain, offset = 1 + (gain - 1) * 0.4, offset * 0.4
            shifted = img * gain + offset
        else:
            hsv = cv2.cvtColor(img / 255.0, cv2.COLOR_RGB2HSV)
            hsv[..., 0] = (hsv[..., 0] + rng.choice([-1, 1]) * rng.uniform(15, 90)) % 360
            hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.8, 1.5), 0, 1)
            shifted = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0
        out = img * (1 - alpha[..., None]) + shifted * alpha[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), region, False


class HarmonyStage(Stage):
    name = "harmony"
    config_cls = HarmonyStageConfig
    ema_names = ("harmony",)

    def build_nets(self) -> None:
        from engine.models.harmony import HarmonyScorer

        self.nets["harmony"] = HarmonyScorer(net_configs(self.cfg.tiny)["harmony"])
        self.source = SampleSource(
            self.cfg.data, self.cfg.size, first_seed=self.cfg.first_seed, seed=self.cfg.seed
        )

    def build_optimizers(self) -> None:
        self.optimizers["harmony"] = torch.optim.Adam(self.nets["harmony"].parameters(), lr=self.cfg.lr)

    def make_batch(self, positions: list[int], step: int):
        rstep = 0 if self.cfg.repeat_batch else step
        images, regions, real = [], [], []
        for k in positions:
            rng = np.random.default_rng(mix_seed(self.cfg.seed, k, rstep, 11))
            img, reg, ok = make_example(self.source.seed_of(k), self.cfg.size, rng, self.cfg.min_area)
            images.append(img)
            regions.append(reg)
            real.append(ok)
        region = torch.from_numpy(np.stack(regions)).float().unsqueeze(1).to(self.device)
        target = torch.tensor(real, dtype=torch.float32, device=self.device)
        return images_to_tensor(images, self.device), region, target

    def train_step(self, batch, step: int) -> dict[str, float]:
        image, region, target = batch
        with self.trainer.autocast():
            logits = self.nets["harmony"](image, region)
        loss = F.binary_cross_entropy_with_logits(logits.float(), target)
        self.trainer.backward(loss)
        self.trainer.step(self.optimizers["harmony"])
        acc = ((logits.detach() > 0).float() == target).float().mean()
        return {"loss": loss.item(), "accuracy": acc.item()}

    def visuals(self, batch):
        image, region, _ = batch
        return {"image": image, "region": region.expand(-1, 3, -1, -1) * 2 - 1}

    def export(self):
        return {"harmony": self.averaged("harmony")}
