"""Multi-scale semantic correspondence attention (MSCA, paper 004 Eq. 2-8).

Example-guided synthesis: align the spatial features of an exemplar image x2 (with its labels c2) to a
target label map c1. The exemplar may be unaligned or laid out differently; nothing here assumes that
its pixels line up with the target's.

Per scale (``MSCABlock``), with F_x2 the exemplar image features (N channels), F_c2 / F_c1 the exemplar /
target label features:

    alpha = softmax_HW( conv1x1([F_x2, F_c2]) )       K spatial attention maps over the exemplar
    V     = F_x2 alpha^T                              [N, K]: K pooled exemplar "parts"
    gate  = sigmoid( MLP([gap(F_c1), gap(F_c2)]) )    [K]: feature masking, drops parts the target lacks
    beta  = softmax_K( conv1x1(F_c1) )                per target pixel, how much of each part it takes
    F_x1  = (V * gate) beta                           [N, h1, w1], aligned to c1

Everything is linear in the number of pixels: no HW x HW matrix is ever formed.

``MSCA`` builds the label-feature pyramids coarse to fine with 1x1 convolutions (Eq. 2-3), runs one
block per scale, projects each output to ``out_channels``, upsamples to the finest scale and fuses them
into one map for the generator's SPADE branch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MSCAConfig", "MSCABlock", "LabelPyramid", "MSCA"]


@dataclass
class MSCAConfig:
    num_classes: int = 19
    feat_channels: tuple[int, ...] = (32, 64, 128)  # encoder pyramid levels used, fine to coarse
    label_channels: int = 32
    k: tuple[int, ...] = (8, 16, 16)  # K per scale, fine to coarse
    out_channels: int = 32  # channels of the aligned map handed to the generator
    use_gate: bool = True  # feature-masking gate (Eq. 6); off only for ablations
    gate_hidden: int = 64

    def __post_init__(self) -> None:
        self.feat_channels = tuple(int(c) for c in self.feat_channels)
        self.k = tuple(int(k) for k in self.k)
        if not self.feat_channels:
            raise ValueError("MSCAConfig.feat_channels must name at least one pyramid level")
        if len(self.k) != len(self.feat_channels):
            raise ValueError(
                f"MSCAConfig.k has {len(self.k)} entries but feat_channels has {len(self.feat_channels)}"
            )
        values = (*self.feat_channels, *self.k, self.label_channels, self.out_channels, self.gate_hidden)
        if any(v <= 0 for v in values) or self.num_classes <= 0:
            raise ValueError(f"MSCAConfig sizes must all be positive: {self}")


class MSCABlock(nn.Module):
    """One scale of MSCA (Eq. 4-8). Inputs: exemplar features, exemplar / target label features."""

    def __init__(
        self,
        feat_channels: int,
        label_channels: int,
        k: int,
        *,
        use_gate: bool = True,
        gate_hidden: int = 64,
    ) -> None:
        super().__init__()
        self.feat_channels = feat_channels
        self.label_channels = label_channels
        self.k = k
        self.use_gate = use_gate
        self.spatial = nn.Conv2d(feat_channels + label_channels, k, 1)  # phi
        self.channel = nn.Conv2d(label_channels, k, 1)  # psi
        self.gate = nn.Sequential(
            nn.Linear(2 * label_channels, gate_hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(gate_hidden, k),
        )

    def forward(
        self, f_x2: Tensor, f_c2: Tensor, f_c1: Tensor, return_attention: bool = False
    ) -> Tensor | tuple[Tensor, Tensor, Tensor]:
        """``-> F_x1 [B, N, h1, w1]``; with ``return_attention`` also alpha ``[B, K, h2*w2]`` and beta
        ``[B, K, h1*w1]``."""
        if f_x2.dim() != 4 or f_c2.dim() != 4 or f_c1.dim() != 4:
            raise ValueError("MSCABlock inputs must be 4-D [B, C, h, w] tensors")
        b, n, h2, w2 = f_x2.shape
        if n != self.feat_channels or f_c2.shape[1] != self.label_channels:
            raise ValueError(
                f"MSCABlock expects {self.feat_channels} feature and {self.label_channels} label channels, "
                f"got {n} and {f_c2.shape[1]}"
            )
        if f_c2.shape[0] != b or f_c2.shape[-2:] != (h2, w2):
            raise ValueError(
                f"exemplar label features {tuple(f_c2.shape)} must match exemplar features {tuple(f_x2.shape)}"
            )
        if f_c1.shape[:2] != (b, self.label_channels):
            raise ValueError(
                f"target label features must be [B={b}, {self.label_channels}, h, w], got {tuple(f_c1.shape)}"
            )
        h1, w1 = f_c1.shape[-2:]
        # Spatial attention: K distributions over the exemplar's pixels.
        alpha = self.spatial(torch.cat([f_x2, f_c2], dim=1)).flatten(2).softmax(dim=-1)  # [B,K,HW2]
        v = torch.bmm(f_x2.flatten(2), alpha.transpose(1, 2))  # [B,N,K]
        if self.use_gate:
            pooled = torch.cat([f_c1.mean(dim=(2, 3)), f_c2.mean(dim=(2, 3))], dim=1)
            v = v * torch.sigmoid(self.gate(pooled)).unsqueeze(1)
        # Channel attention: per target pixel, a distribution over the K parts.
        beta = self.channel(f_c1).flatten(2).softmax(dim=1)  # [B,K,HW1]
        out = torch.bmm(v, beta).view(b, n, h1, w1)
        return (out, alpha, beta) if return_attention else out


class LabelPyramid(nn.Module):
    """Label features built coarse to fine with 1x1 convolutions (paper 004 Eq. 2-3).

    Level i sees the one-hot mask pooled to its size; every level but the coarsest also sees the
    coarser level's features upsampled to its size.
    """

    def __init__(self, num_classes: int, label_channels: int, levels: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        # convs[j] serves level j counted from the coarsest.
        self.convs = nn.ModuleList(
            nn.Conv2d(num_classes + (label_channels if j > 0 else 0), label_channels, 1)
            for j in range(levels)
        )
        self.act = nn.LeakyReLU(0.2)

    def forward(self, mask: Tensor, sizes: list[tuple[int, int]]) -> list[Tensor]:
        """``mask`` one-hot ``[B, C, H, W]``; ``sizes`` per level fine to coarse; -> features fine to coarse."""
        if len(sizes) != len(self.convs):
            raise ValueError(f"LabelPyramid has {len(self.convs)} levels, got {len(sizes)} sizes")
        feats: list[Tensor] = []
        prev: Tensor | None = None
        for j, size in enumerate(reversed(sizes)):
            x = F.adaptive_avg_pool2d(mask, size)
            if prev is not None:
                x = torch.cat([x, F.interpolate(prev, size=size, mode="bilinear", align_corners=False)], 1)
            prev = self.act(self.convs[j](x))
            feats.append(prev)
        return feats[::-1]


def _scaled(size: tuple[int, int], num: tuple[int, int], den: tuple[int, int]) -> tuple[int, int]:
    return (max(1, round(size[0] * num[0] / den[0])), max(1, round(size[1] * num[1] / den[1])))


class MSCA(nn.Module):
    """All scales of MSCA, fused into one ``[B, out_channels, h, w]`` map aligned to the target mask."""

    def __init__(self, cfg: MSCAConfig | None = None) -> None:
        super().__init__()
        cfg = cfg if cfg is not None else MSCAConfig()
        self.cfg = cfg
        self.labels = LabelPyramid(cfg.num_classes, cfg.label_channels, len(cfg.feat_channels))
        self.blocks = nn.ModuleList(
            MSCABlock(c, cfg.label_channels, k, use_gate=cfg.use_gate, gate_hidden=cfg.gate_hidden)
            for c, k in zip(cfg.feat_channels, cfg.k, strict=True)
        )
        self.project = nn.ModuleList(nn.Conv2d(c, cfg.out_channels, 1) for c in cfg.feat_channels)
        self.fuse = nn.Sequential(
            nn.LeakyReLU(0.2),
            nn.Conv2d(cfg.out_channels * len(cfg.feat_channels), cfg.out_channels, 1),
        )

    def _check(self, target_mask: Tensor, exemplar_pyramid: list[Tensor], exemplar_mask: Tensor) -> None:
        c = self.cfg.num_classes
        for name, m in (("target_mask", target_mask), ("exemplar_mask", exemplar_mask)):
            if not isinstance(m, Tensor) or m.dim() != 4 or m.shape[1] != c:
                shape = tuple(m.shape) if isinstance(m, Tensor) else type(m).__name__
                raise ValueError(f"{name} must be one-hot [B, {c}, H, W], got {shape}")
        if target_mask.shape[0] != exemplar_mask.shape[0]:
            raise ValueError(
                f"batch sizes differ: target {target_mask.shape[0]}, exemplar {exemplar_mask.shape[0]}"
            )
        want = self.cfg.feat_channels
        if len(exemplar_pyramid) != len(want):
            raise ValueError(
                f"exemplar_pyramid has {len(exemplar_pyramid)} levels, this MSCA uses {len(want)} "
                f"(channels {want}, fine to coarse); pass exactly those levels"
            )
        for i, (f, ch) in enumerate(zip(exemplar_pyramid, want, strict=True)):
            if f.dim() != 4 or f.shape[0] != exemplar_mask.shape[0] or f.shape[1] != ch:
                raise ValueError(f"exemplar_pyramid[{i}] must be [B, {ch}, h, w], got {tuple(f.shape)}")

    def forward(self, target_mask: Tensor, exemplar_pyramid: list[Tensor], exemplar_mask: Tensor) -> Tensor:
        """``target_mask [B,C,H,W]``, ``exemplar_pyramid`` fine to coarse (any spatial sizes),
        ``exemplar_mask [B,C,He,We]`` -> ``[B, out_channels, h, w]`` at the finest level's scale of H x W.
        """
        exemplar_pyramid = list(exemplar_pyramid)
        self._check(target_mask, exemplar_pyramid, exemplar_mask)
        t_size = tuple(target_mask.shape[-2:])
        e_size = tuple(exemplar_mask.shape[-2:])
        e_sizes = [tuple(f.shape[-2:]) for f in exemplar_pyramid]
        # Each level sits at some fraction of the exemplar's size; the target's label features use the
        # same fraction of the target's size.
        t_sizes = [_scaled(t_size, s, e_size) for s in e_sizes]
        mask_t = target_mask.to(exemplar_pyramid[0].dtype)
        mask_e = exemplar_mask.to(exemplar_pyramid[0].dtype)
        f_c1 = self.labels(mask_t, t_sizes)
        f_c2 = self.labels(mask_e, e_sizes)
        out_size = t_sizes[0]
        outs = []
        for i, block in enumerate(self.blocks):
            y = self.project[i](block(exemplar_pyramid[i], f_c2[i], f_c1[i]))
            if tuple(y.shape[-2:]) != out_size:
                y = F.interpolate(y, size=out_size, mode="bilinear", align_corners=False)
            outs.append(y)
        return self.fuse(torch.cat(outs, dim=1))
