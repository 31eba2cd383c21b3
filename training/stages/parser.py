"""Stage ``parser``: our own face parser, cross-entropy with strong augmentation.

The synthetic corpus is clean and flat-shaded, so a parser trained on it as-is learns its look, not
faces. Every training image is therefore pushed around (`augment`), in this order:

- geometry: a random similarity transform (rotation +-15 degrees, scale 0.85-1.15, shift +-8 %) and a
  mirror flip half of the time, applied to the image (bilinear) and the label map (nearest), with
  left/right classes swapped on a flip;
- colour: brightness, contrast, saturation and hue jitter, gamma, and a few grey-scale images;
- degradations: Gaussian blur, Gaussian noise, and a JPEG re-encode at quality 30-95.

The randomness of sample ``k`` at step ``s`` comes from ``(seed, k, s)`` alone, so runs resume exactly and
are the same for any number of processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from engine.labels import MIRROR, NUM_CLASSES
from training.config import TrainConfig
from training.dist import mix_seed
from training.loop import Stage
from training.stages.common import (
    images_to_tensor,
    init_matching,
    labels_to_tensor,
    make_source,
    net_configs,
    require_nets,
)

__all__ = ["ParserStageConfig", "ParserStage", "augment", "FLIP_LUT"]


#: Class id -> its mirror image's class id (left eye <-> right eye, ...): engine.labels.MIRROR.
FLIP_LUT = MIRROR


@dataclass
class ParserStageConfig(TrainConfig):
    """Train the face parser (cross-entropy, strong augmentation)."""

    out: str = "runs/parser"
    lr: float = 2e-3
    batch_size: int = 16
    ema_decay: float = 0.99
    augment: bool = field(default=True, metadata={"help": "geometric, colour and degradation augmentation"})
    jpeg_prob: float = field(default=0.5, metadata={"help": "chance of a JPEG re-encode"})
    blur_prob: float = field(default=0.3, metadata={"help": "chance of a Gaussian blur"})
    noise_prob: float = field(default=0.4, metadata={"help": "chance of Gaussian noise"})
    flip_prob: float = field(default=0.5, metadata={"help": "chance of a mirror flip"})
    init_from: str = field(
        default="", metadata={"help": "start from the parser in this folder (layers that match)"}
    )
    class_balance: float = field(
        default=0.0,
        metadata={"help": "weigh classes by (median frequency / frequency)^p in the loss (0 = off, 0.5 typical)"},
    )
    balance_samples: int = field(default=200, metadata={"help": "samples counted for --class-balance"})


def augment(
    image: np.ndarray, label: np.ndarray, rng: np.random.Generator, cfg: ParserStageConfig
) -> tuple[np.ndarray, np.ndarray]:
    """One random augmentation of an (image uint8 HxWx3, label uint8 HxW) pair; see the module doc."""
    h, w = label.shape
    img = image.astype(np.uint8, copy=True)
    lab = label.astype(np.uint8, copy=True)
    if rng.random() < cfg.flip_prob:
        img, lab = img[:, ::-1].copy(), FLIP_LUT[lab[:, ::-1]]
    angle = rng.uniform(-15, 15)
    scale = rng.uniform(0.85, 1.15)
    shift = rng.uniform(-0.08, 0.08, 2) * (w, h)
    mat = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    mat[:, 2] += shift
    img = cv2.warpAffine(img, mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    lab = cv2.warpAffine(lab, mat, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT_101)

    x = img.astype(np.float32) / 255.0
    x = x * rng.uniform(0.75, 1.25) + rng.uniform(-0.08, 0.08)  # brightness
    mean = x.mean()
    x = (x - mean) * rng.uniform(0.7, 1.3) + mean  # contrast
    x = np.clip(x, 0, 1)
    hsv = cv2.cvtColor(x, cv2.COLOR_RGB2HSV)  # float: H in [0, 360)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-12, 12)) % 360
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.6, 1.4), 0, 1)
    x = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    x = np.clip(x, 0, 1) ** rng.uniform(0.75, 1.33)  # gamma
    if rng.random() < 0.05:
        x = np.repeat(x.mean(axis=2, keepdims=True), 3, axis=2)
    if rng.random() < cfg.blur_prob:
        sigma = rng.uniform(0.3, 1.5) * h / 128
        x = cv2.GaussianBlur(x, (0, 0), sigma)
    if rng.random() < cfg.noise_prob:
        x = x + rng.normal(0, rng.uniform(0.005, 0.05), x.shape).astype(np.float32)
    img = (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)
    if rng.random() < cfg.jpeg_prob:
        ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 96))])
        if ok:
            img = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()
    return img, lab


def class_weights(labels, power: float, clip: tuple[float, float] = (0.5, 8.0)) -> torch.Tensor:
    """Loss weights per class, (median frequency / frequency) ** power over the pixels of ``labels``
    (classes never seen get the largest weight), clipped to ``clip``: small classes (earrings,
    necklaces, glasses, ears) count for more than their few pixels."""
    counts = np.zeros(NUM_CLASSES, np.float64)
    for lab in labels:
        counts += np.bincount(np.asarray(lab).ravel(), minlength=NUM_CLASSES)[:NUM_CLASSES]
    freq = counts / max(counts.sum(), 1.0)
    seen = freq > 0
    med = float(np.median(freq[seen])) if seen.any() else 1.0
    w = np.where(seen, (med / np.maximum(freq, 1e-12)) ** power, clip[1])
    return torch.as_tensor(np.clip(w, *clip), dtype=torch.float32)


class ParserStage(Stage):
    name = "parser"
    config_cls = ParserStageConfig
    ema_names = ("parser",)

    def build_nets(self) -> None:
        from engine.models.parser_net import FaceParser

        self.nets["parser"] = FaceParser(net_configs(self.cfg.tiny)["parser"])
        if self.cfg.init_from:
            old = require_nets(self.cfg.init_from, ("parser",), "init-from", "the parser to start from")
            init_matching(self.nets["parser"], old["parser"])
        self.source = make_source(self.cfg.data, self.cfg.size, first_seed=self.cfg.first_seed, seed=self.cfg.seed)
        self.class_weight = None
        if self.cfg.class_balance > 0:
            self.class_weight = class_weights(
                (self.source(k).label for k in range(self.cfg.balance_samples)), self.cfg.class_balance
            ).to(self.device)

    def build_optimizers(self) -> None:
        self.optimizers["parser"] = torch.optim.AdamW(
            self.nets["parser"].parameters(), lr=self.cfg.lr, weight_decay=1e-4
        )

    def make_batch(self, positions: list[int], step: int):
        images, labels = [], []
        rstep = 0 if self.cfg.repeat_batch else step
        for k in positions:
            s = self.source(k)
            img, lab = s.image, s.label
            if self.cfg.augment:
                img, lab = augment(
                    img, lab, np.random.default_rng(mix_seed(self.cfg.seed, k, rstep)), self.cfg
                )
            images.append(img)
            labels.append(lab)
        return images_to_tensor(images, self.device), labels_to_tensor(labels, self.device)

    def train_step(self, batch, step: int) -> dict[str, float]:
        image, label = batch
        with self.trainer.autocast():
            logits = self.nets["parser"](image)
        loss = F.cross_entropy(logits.float(), label, weight=self.class_weight)
        self.trainer.backward(loss)
        self.trainer.step(self.optimizers["parser"])
        acc = (logits.detach().argmax(1) == label).float().mean()
        lr = self.optimizers["parser"].param_groups[0]["lr"]
        return {"loss": loss.item(), "pixel_acc": acc.item(), "lr": lr}

    def visuals(self, batch):
        from engine.labels import COLORS

        image, label = batch
        pred = self.averaged("parser")(image).argmax(1)
        lut = torch.as_tensor(COLORS, device=image.device).float() / 127.5 - 1
        return {
            "image": image,
            "label": lut[label].permute(0, 3, 1, 2),
            "pred": lut[pred].permute(0, 3, 1, 2),
        }

    def export(self):
        return {"parser": self.averaged("parser")}
