"""Multi-scale style encoder (paper 000, Eq. 1-2).

A small spectrally normalised conv stack. Every layer's feature map F_i is projected to S channels by a
1x1 conv, resized to ``H / pool_div`` and mixed with softmax-normalised learnable weights,
``F = sum_i softmax(a)_i F_i``. Region-wise average pooling of F under the mask gives one style vector
per class; absent classes get zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.labels import NUM_CLASSES
from engine.models.layers import check_image, check_mask, region_pool, resize, sn_conv

__all__ = ["EncoderConfig", "StyleEncoder"]


@dataclass
class EncoderConfig:
    num_classes: int = NUM_CLASSES
    style_dim: int = 64  # S
    base_channels: int = 32
    num_down: int = 3  # stride-2 layers after the full-resolution stem
    pool_div: int = 2  # the mixed feature map lives at H / pool_div

    def __post_init__(self) -> None:
        for name in ("num_classes", "style_dim", "base_channels", "pool_div"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"EncoderConfig.{name} must be positive, got {getattr(self, name)!r}")
        if self.num_down < 0:
            raise ValueError(f"EncoderConfig.num_down must be >= 0, got {self.num_down}")

    @property
    def pyramid_channels(self) -> tuple[int, ...]:
        """Channels of each pyramid level, fine (stem, full resolution) to coarse."""
        b = self.base_channels
        return tuple(min(b * 2**i, b * 8) for i in range(self.num_down + 1))

    @classmethod
    def tiny(cls, **overrides) -> EncoderConfig:
        kw = dict(style_dim=8, base_channels=4, num_down=2)
        kw.update(overrides)
        return cls(**kw)


class StyleEncoder(nn.Module):
    def __init__(self, cfg: EncoderConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg if cfg is not None else EncoderConfig()
        chans = cfg.pyramid_channels
        layers = [sn_conv(3, chans[0], 3)]
        for i in range(1, len(chans)):
            layers.append(sn_conv(chans[i - 1], chans[i], 3, stride=2))
        self.layers = nn.ModuleList(layers)
        self.proj = nn.ModuleList(sn_conv(c, cfg.style_dim, 1) for c in chans)
        # a_i of Eq. 2; zeros = equal weights at the start.
        self.mix_logits = nn.Parameter(torch.zeros(len(chans)))

    @property
    def pyramid_channels(self) -> tuple[int, ...]:
        return self.cfg.pyramid_channels

    def mix_weights(self) -> Tensor:
        """softmax(a): the weight of each pyramid level in the mixed feature map (sums to 1)."""
        return torch.softmax(self.mix_logits, dim=0)

    def pyramid(self, image: Tensor) -> list[Tensor]:
        """Raw features of every layer, fine to coarse: level i is ``[B, pyramid_channels[i], H/2**i, W/2**i]``."""
        check_image(image)
        feats = []
        x = image
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2)
            feats.append(x)
        return feats

    def _mix(self, feats: list[Tensor], size: tuple[int, int]) -> Tensor:
        w = self.mix_weights()
        out = None
        for i, (f, proj) in enumerate(zip(feats, self.proj, strict=True)):
            # A 1x1 conv commutes with area/bilinear resizing (weights sum to 1), so project at
            # whichever of the two resolutions has fewer pixels.
            if f.shape[-2] * f.shape[-1] > size[0] * size[1]:
                g = proj(resize(f, size))
            else:
                g = resize(proj(f), size)
            out = g * w[i] if out is None else out + g * w[i]
        return out

    def features(self, image: Tensor) -> Tensor:
        """Mixed multi-scale features ``[B, S, H/pool_div, W/pool_div]`` (Eq. 1-2)."""
        h, w = image.shape[-2:]
        d = self.cfg.pool_div
        return self._mix(self.pyramid(image), (max(1, h // d), max(1, w // d)))

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        """Per-class style codes ``[B, 19, S]``; a class absent from ``mask`` gets a zero vector."""
        check_image(image)
        check_mask(mask, self.cfg.num_classes)
        if mask.shape[0] != image.shape[0]:
            raise ValueError(f"batch sizes differ: image {image.shape[0]}, mask {mask.shape[0]}")
        return region_pool(self.features(image), mask)
