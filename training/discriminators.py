"""Image discriminators for the generator stage: multi-scale PatchGAN with feature outputs.

Conditional on the mask (pix2pixHD / SPADE style): the input is the image concatenated with the one-hot
mask, so the discriminator judges "is this a plausible face *for this layout*". Every layer's activations
are returned so the generator can be trained with feature matching. Spectral norm on every conv, hinge
loss (see `training.losses`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["DiscriminatorConfig", "PatchDiscriminator", "MultiScaleDiscriminator"]


@dataclass
class DiscriminatorConfig:
    in_channels: int = 3 + 19  # image + one-hot mask
    base_channels: int = 32
    layers: int = 3  # strided convs per scale
    scales: int = 2  # the input, then halved each further scale
    max_channels: int = 256

    def __post_init__(self) -> None:
        for name in ("in_channels", "base_channels", "layers", "scales", "max_channels"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"DiscriminatorConfig.{name} must be positive, got {getattr(self, name)}")

    @classmethod
    def tiny(cls, **kw) -> DiscriminatorConfig:
        return cls(**{"base_channels": 8, "layers": 2, "scales": 2, "max_channels": 16, **kw})


class PatchDiscriminator(nn.Module):
    """Strided 4x4 convs (stride 2) then two stride-1 convs; the last gives per-patch logits."""

    def __init__(self, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        ch = cfg.base_channels
        layers: list[nn.Module] = [
            nn.Sequential(spectral_norm(nn.Conv2d(cfg.in_channels, ch, 4, 2, 1)), nn.LeakyReLU(0.2))
        ]
        for _ in range(cfg.layers - 1):
            nxt = min(ch * 2, cfg.max_channels)
            layers.append(nn.Sequential(spectral_norm(nn.Conv2d(ch, nxt, 4, 2, 1)), nn.LeakyReLU(0.2)))
            ch = nxt
        nxt = min(ch * 2, cfg.max_channels)
        layers.append(nn.Sequential(spectral_norm(nn.Conv2d(ch, nxt, 3, 1, 1)), nn.LeakyReLU(0.2)))
        layers.append(spectral_norm(nn.Conv2d(nxt, 1, 3, 1, 1)))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor) -> list[Tensor]:
        """All layer outputs; the last is the ``[B,1,h,w]`` logit map."""
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return feats


class MultiScaleDiscriminator(nn.Module):
    """``scales`` PatchDiscriminators on the input and its 2x, 4x, ... average-pooled versions."""

    def __init__(self, cfg: DiscriminatorConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg if cfg is not None else DiscriminatorConfig()
        self.nets = nn.ModuleList(PatchDiscriminator(cfg) for _ in range(cfg.scales))

    def forward(self, image: Tensor, mask: Tensor | None = None) -> list[list[Tensor]]:
        """``image [B,3,H,W]`` (and the one-hot ``mask``) -> per scale, the list of layer outputs."""
        x = image if mask is None else torch.cat([image, mask.to(image.dtype)], dim=1)
        if x.shape[1] != self.cfg.in_channels:
            raise ValueError(
                f"discriminator expects {self.cfg.in_channels} input channels, got {x.shape[1]} "
                "(image + one-hot mask?)"
            )
        out = []
        for i, net in enumerate(self.nets):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            out.append(net(x))
        return out
