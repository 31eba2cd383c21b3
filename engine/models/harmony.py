"""Harmony scorer (paper 000's harmony metric): is this a real photo or a composite?

Input: the image and a binary map of the region that was (or might have been) pasted in. The network
sees both, so it can look for seams and colour mismatches along the region's border. Output: one logit
per image, > 0 meaning "real".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.models.layers import check_image, sn_conv

__all__ = ["HarmonyConfig", "HarmonyScorer"]


@dataclass
class HarmonyConfig:
    base_channels: int = 16
    depth: int = 4  # stride-2 stages

    def __post_init__(self) -> None:
        if self.base_channels <= 0 or self.depth < 1:
            raise ValueError(
                f"HarmonyConfig needs base_channels > 0 and depth >= 1, got {self.base_channels}, {self.depth}"
            )

    @property
    def stage_channels(self) -> tuple[int, ...]:
        b = self.base_channels
        return tuple(min(b * 2**i, b * 16) for i in range(self.depth))

    @classmethod
    def tiny(cls, **overrides) -> HarmonyConfig:
        kw = dict(base_channels=4, depth=2)
        kw.update(overrides)
        return cls(**kw)


class HarmonyScorer(nn.Module):
    def __init__(self, cfg: HarmonyConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg if cfg is not None else HarmonyConfig()
        ch = cfg.stage_channels
        stages = []
        for i, c in enumerate(ch):
            cin = 4 if i == 0 else ch[i - 1]  # RGB + region map
            stages.append(nn.ModuleList([sn_conv(cin, c, 3, stride=2), sn_conv(c, c, 3)]))
        self.stages = nn.ModuleList(stages)
        # Average and max pooling both go to the classifier: a seam is small, averaging alone dilutes it.
        self.fc = nn.Linear(2 * ch[-1], 1)

    def forward(self, image: Tensor, region: Tensor) -> Tensor:
        """``image [B,3,H,W]`` in [-1,1], ``region [B,1,H,W]`` in {0,1} -> logit ``[B]``."""
        check_image(image)
        if not isinstance(region, Tensor) or region.dim() != 4 or region.shape[1] != 1:
            shape = tuple(region.shape) if isinstance(region, Tensor) else type(region).__name__
            raise ValueError(f"region must have shape [B,1,H,W], got {shape}")
        if region.shape[0] != image.shape[0] or region.shape[-2:] != image.shape[-2:]:
            raise ValueError(
                f"region {tuple(region.shape)} does not match image {tuple(image.shape)} in batch or size"
            )
        # {0,1} -> {-1,1}, the same range as the image.
        x = torch.cat([image, region.to(image.dtype) * 2.0 - 1.0], dim=1)
        for down, same in self.stages:
            x = F.leaky_relu(down(x), 0.2)
            x = x + F.leaky_relu(same(x), 0.2)
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)
        return self.fc(pooled).squeeze(1)
