"""Random style mapping (RSM, paper 000 Eq. 3 and 6): noise -> plausible style vectors per region group.

Related classes share one mapping network (``engine.labels.RSM_GROUPS``: skin, nose, ears and neck,
both eyes, the mouth and lips, ...), so that a random draw keeps them coherent. The groups a bank was
built with are part of its config (``RSMConfig.groups``), so a bank saved with other groups still
loads. The networks are trained adversarially *in style space*: ``StyleDiscriminator`` tells encoder
styles from mapped noise, so the image generator never has to be trained unsupervised.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from engine.labels import NUM_CLASSES, RSM_GROUPS

__all__ = [
    "RSMConfig",
    "MappingNet",
    "RSMBank",
    "StyleDiscriminatorConfig",
    "StyleDiscriminator",
]


def _check_group(group: str, groups: dict[str, tuple[int, ...]] = RSM_GROUPS) -> tuple[int, ...]:
    if group not in groups:
        raise ValueError(f"unknown RSM group {group!r}; choose one of: {', '.join(groups)}")
    return groups[group]


@dataclass
class RSMConfig:
    num_classes: int = 19
    style_dim: int = 64  # S
    z_dim: int = 32
    hidden: int = 128
    layers: int = 3  # linear layers per mapping network
    #: group name -> its class ids, in output order; None = ``engine.labels.RSM_GROUPS``
    groups: dict[str, tuple[int, ...]] | None = None

    def __post_init__(self) -> None:
        if self.num_classes != NUM_CLASSES:
            raise ValueError(f"RSM groups are defined for {NUM_CLASSES} classes, got {self.num_classes}")
        for name in ("style_dim", "z_dim", "hidden", "layers"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"RSMConfig.{name} must be positive, got {getattr(self, name)!r}")
        raw = RSM_GROUPS if self.groups is None else self.groups
        if not isinstance(raw, dict) or not raw:
            raise ValueError(f"RSMConfig.groups must map group names to class ids, got {raw!r}")
        try:
            groups = {str(g): tuple(int(c) for c in cs) for g, cs in raw.items()}
        except (TypeError, ValueError):
            raise ValueError(
                f"RSMConfig.groups must map group names to lists of class ids, got {raw!r}"
            ) from None
        seen = [c for cs in groups.values() for c in cs]
        if any(not cs for cs in groups.values()) or any(not g.isidentifier() for g in groups):
            raise ValueError("RSMConfig.groups: every group needs a plain name and at least one class")
        if len(seen) != len(set(seen)) or not all(0 <= c < NUM_CLASSES for c in seen):
            raise ValueError(f"RSMConfig.groups: class ids must be distinct and in 0..{NUM_CLASSES - 1}")
        self.groups = groups

    def group_of(self, class_id: int) -> str | None:
        """The group that draws ``class_id``; None when no group does."""
        return next((g for g, cs in self.groups.items() if class_id in cs), None)


def _mlp(sizes: list[int], *, sn: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        lin = nn.Linear(sizes[i], sizes[i + 1])
        layers.append(spectral_norm(lin) if sn else lin)
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


class MappingNet(nn.Module):
    """MLP with LeakyReLU: ``z [B, z_dim] -> [B, n_classes, S]`` (one group's style vectors)."""

    def __init__(self, z_dim: int, n_classes: int, style_dim: int, hidden: int = 128, layers: int = 3):
        super().__init__()
        self.z_dim, self.n_classes, self.style_dim = z_dim, n_classes, style_dim
        self.net = _mlp([z_dim] + [hidden] * (layers - 1) + [n_classes * style_dim])

    def forward(self, z: Tensor) -> Tensor:
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be [B, {self.z_dim}], got {tuple(z.shape)}")
        # Pixel norm: only the direction of z matters, as in StyleGAN's mapping network.
        z = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)
        return self.net(z).view(z.shape[0], self.n_classes, self.style_dim)


class RSMBank(nn.Module):
    """One ``MappingNet`` per group of ``cfg.groups``."""

    def __init__(self, cfg: RSMConfig | None = None) -> None:
        super().__init__()
        cfg = cfg if cfg is not None else RSMConfig()
        self.cfg = cfg
        self.nets = nn.ModuleDict(
            {
                g: MappingNet(cfg.z_dim, len(cs), cfg.style_dim, cfg.hidden, cfg.layers)
                for g, cs in cfg.groups.items()
            }
        )

    def classes_of(self, group: str) -> tuple[int, ...]:
        """The class ids a group's network produces, in output order."""
        return _check_group(group, self.cfg.groups)

    def forward(self, z: Tensor, group: str) -> Tensor:
        """``z [B, z_dim]`` -> ``[B, len(classes_of(group)), S]``."""
        _check_group(group, self.cfg.groups)
        return self.nets[group](z)

    def sample_z(self, seed: int, n: int = 1) -> Tensor:
        """Noise ``[n, z_dim]`` drawn from a CPU generator seeded with ``seed`` (same on every device)."""
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        ref = next(self.parameters())
        return torch.randn(n, self.cfg.z_dim, generator=gen).to(device=ref.device, dtype=ref.dtype)

    @torch.no_grad()
    def sample_group(self, group: str, seed: int) -> Tensor:
        """Every style of ``group`` for one seeded draw: ``[len(group), S]``."""
        return self.forward(self.sample_z(seed), group)[0]

    @torch.no_grad()
    def sample(self, class_id: int, seed: int) -> Tensor:
        """Style ``[S]`` of one class: its group is sampled with ``seed`` and the class's row picked.

        Classes of the same group drawn with the same seed come from the same draw, so they match.
        """
        class_id = int(class_id)
        if not 0 <= class_id < self.cfg.num_classes:
            raise ValueError(f"class_id must be in 0..{self.cfg.num_classes - 1}, got {class_id}")
        group = self.cfg.group_of(class_id)
        if group is None:
            raise ValueError(f"this RSM has no network for class {class_id}")
        return self.sample_group(group, seed)[self.classes_of(group).index(class_id)]


@dataclass
class StyleDiscriminatorConfig:
    group: str = "skin"  # which RSM group's styles it judges
    style_dim: int = 64
    hidden: int = 256
    layers: int = 3
    spectral_norm: bool = True
    minibatch_std: bool = True  # append the batch's style spread, which discourages mode collapse

    def __post_init__(self) -> None:
        _check_group(self.group)
        for name in ("style_dim", "hidden", "layers"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"StyleDiscriminatorConfig.{name} must be positive")


class StyleDiscriminator(nn.Module):
    """Real (encoder) vs fake (mapped) styles of one group: ``[B, len(group), S] -> [B]`` logits."""

    def __init__(self, cfg: StyleDiscriminatorConfig | None = None) -> None:
        super().__init__()
        cfg = cfg if cfg is not None else StyleDiscriminatorConfig()
        self.cfg = cfg
        self.n_classes = len(RSM_GROUPS[cfg.group])
        n_in = self.n_classes * cfg.style_dim + (1 if cfg.minibatch_std else 0)
        self.net = _mlp([n_in] + [cfg.hidden] * (cfg.layers - 1) + [1], sn=cfg.spectral_norm)

    def forward(self, styles: Tensor) -> Tensor:
        want = (self.n_classes, self.cfg.style_dim)
        if styles.dim() != 3 or tuple(styles.shape[1:]) != want:
            raise ValueError(f"styles must be [B, {want[0]}, {want[1]}], got {tuple(styles.shape)}")
        x = styles.flatten(1)
        if self.cfg.minibatch_std:
            if x.shape[0] > 1:
                spread = x.std(dim=0, unbiased=False).mean()
            else:
                spread = x.new_zeros(())
            x = torch.cat([x, spread.expand(x.shape[0], 1)], dim=1)
        return self.net(x).squeeze(1)
