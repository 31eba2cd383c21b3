"""SEAN-style generator: mask + per-class style codes (+ optional spatial features) -> image.

The network starts from the one-hot mask area-downsampled to ``H / 2**len(channels)``, then runs one
residual up-block per entry of ``channels`` (upsample x2, then the block), so the last block works at
full resolution. Every normalisation blends a region-style branch and a SPADE branch (see
`engine.models.layers.RegionSpadeBlock`). Fully convolutional: any ``H, W`` divisible by
``2**len(channels)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.labels import NUM_CLASSES
from engine.models.layers import (
    RegionSpadeBlock,
    check_mask,
    conv,
    json_tuple,
    resize,
)

__all__ = ["GeneratorConfig", "Generator"]


@dataclass
class GeneratorConfig:
    num_classes: int = NUM_CLASSES
    style_dim: int = 64
    #: Output channels per block, coarse to fine. The first block runs at H / 2**(len - 1).
    #: Sized for speed: ~55 ms per 256x256 regeneration on two CPU cores (scripts/time_generator.py).
    #: The two full-resolution-facing blocks stay at 16 channels: 32 there cost ~40% more time,
    #: because every op at 256x256 is memory-bound.
    channels: tuple[int, ...] = (256, 128, 64, 16, 16)
    #: Spatial features fed to the SPADE branch (the MSCA output); 0 = none.
    extra_channels: int = 0
    #: SEAN-style per-block noise injection (the spatial detail path).
    noise: bool = True
    #: Width of the shared 3x3 mask conv of each block's SPADE branch (capped per block by
    #: `block_hidden`, so the full-resolution blocks stay cheap).
    mask_hidden: int = 64
    #: Parameter-free normalisation: "instance" or "batch".
    norm: str = "instance"

    def __post_init__(self) -> None:
        self.channels = json_tuple(self.channels, "GeneratorConfig.channels")
        if self.num_classes <= 0 or self.style_dim <= 0 or self.mask_hidden <= 0:
            raise ValueError("GeneratorConfig: num_classes, style_dim and mask_hidden must be positive")
        if self.extra_channels < 0:
            raise ValueError(f"GeneratorConfig.extra_channels must be >= 0, got {self.extra_channels}")
        if self.norm not in ("instance", "batch"):
            raise ValueError(f"GeneratorConfig.norm must be 'instance' or 'batch', got {self.norm!r}")

    @property
    def down_factor(self) -> int:
        """Input sides must be multiples of this (the generator starts at H / down_factor)."""
        return 2 ** len(self.channels)

    def block_hidden(self, i: int) -> int:
        """SPADE hidden width of block ``i``: ``mask_hidden`` but no wider than the block's output."""
        return max(8, min(self.mask_hidden, self.channels[i]))

    @classmethod
    def tiny(cls, **overrides) -> GeneratorConfig:
        """A ~17k-parameter generator for tests (3 blocks: sides must be multiples of 8)."""
        kw = dict(style_dim=8, channels=(16, 8, 8), mask_hidden=8)
        kw.update(overrides)
        return cls(**kw)

    @classmethod
    def yardstick(cls, **overrides) -> GeneratorConfig:
        """SEAN-sized reference built from the same code (64 channels at the finest block, S = 512)."""
        kw = dict(style_dim=512, channels=(1024, 1024, 512, 256, 128, 64), mask_hidden=128)
        kw.update(overrides)
        return cls(**kw)


class Generator(nn.Module):
    def __init__(self, cfg: GeneratorConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg if cfg is not None else GeneratorConfig()
        ch = cfg.channels
        self.fc = conv(cfg.num_classes, ch[0], 3)
        cond = cfg.num_classes + cfg.extra_channels
        blocks = []
        for i, cout in enumerate(ch):
            cin = ch[i - 1] if i > 0 else ch[0]
            blocks.append(
                RegionSpadeBlock(
                    cin,
                    cout,
                    style_dim=cfg.style_dim,
                    cond_channels=cond,
                    hidden=cfg.block_hidden(i),
                    norm=cfg.norm,
                    noise=cfg.noise,
                )
            )
        self.blocks = nn.ModuleList(blocks)
        self.to_rgb = conv(ch[-1], 3, 3)

    def _check(self, mask: Tensor, styles: Tensor, extra: Tensor | None) -> None:
        cfg = self.cfg
        check_mask(mask, cfg.num_classes)
        b, _, h, w = mask.shape
        f = cfg.down_factor
        if h % f or w % f or h == 0 or w == 0:
            raise ValueError(
                f"mask size {h}x{w} is not a positive multiple of {f} (this generator has "
                f"{len(cfg.channels)} up-blocks)"
            )
        if (
            not isinstance(styles, Tensor)
            or styles.dim() != 3
            or tuple(styles.shape) != (b, cfg.num_classes, cfg.style_dim)
        ):
            raise ValueError(
                f"styles must have shape [B,{cfg.num_classes},{cfg.style_dim}] = "
                f"[{b},{cfg.num_classes},{cfg.style_dim}], got {tuple(styles.shape)}"
            )
        if extra is not None:
            if cfg.extra_channels == 0:
                raise ValueError("this generator was built with extra_channels=0 but got an extra map")
            if extra.dim() != 4 or extra.shape[0] != b or extra.shape[1] != cfg.extra_channels:
                raise ValueError(
                    f"extra must have shape [{b},{cfg.extra_channels},h,w], got {tuple(extra.shape)}"
                )

    def forward(
        self,
        mask: Tensor,
        styles: Tensor,
        extra: Tensor | None = None,
        noise_seed: int | None = 0,
    ) -> Tensor:
        """``mask [B,19,H,W]`` one-hot, ``styles [B,19,S]`` -> image ``[B,3,H,W]`` in ``[-1, 1]``.

        ``noise_seed`` seeds a private ``torch.Generator`` on the input's device, so the output is
        a deterministic function of the inputs in eval mode. ``None`` draws the noise from the
        global RNG instead (useful in training, so the noise is fresh every step).
        """
        self._check(mask, styles, extra)
        cfg = self.cfg
        n = len(cfg.channels)
        dtype = styles.dtype
        mask = mask.to(dtype)
        # Mask pyramid, fine to coarse, by exact 2x2 averaging.
        masks = [mask]
        for _ in range(n):
            masks.append(F.avg_pool2d(masks[-1], 2))
        gen = None
        if cfg.noise and noise_seed is not None:
            gen = torch.Generator(device=mask.device)
            gen.manual_seed(int(noise_seed))

        x = self.fc(masks[n])
        for i, block in enumerate(self.blocks):
            m = masks[n - 1 - i]
            if extra is not None:
                cond = torch.cat([m, resize(extra.to(dtype), m.shape[-2:])], 1)
            elif cfg.extra_channels:  # no exemplar features: the SPADE branch sees zeros
                cond = torch.cat([m, m.new_zeros(m.shape[0], cfg.extra_channels, *m.shape[2:])], 1)
            else:
                cond = m
            noise = None
            if cfg.noise:
                shape = (m.shape[0], 1, m.shape[2], m.shape[3])
                noise = torch.randn(shape, generator=gen, device=m.device, dtype=dtype)
            x = block(x, cond, m, styles, noise)
        return torch.tanh(self.to_rgb(F.leaky_relu(x, 0.2)))
