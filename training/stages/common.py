"""Pieces the stages share: network sizes, data access, tensors from samples, loading earlier stages.

Synthetic seeds: training draws sample ``k`` from seed ``first_seed + k`` (``first_seed`` defaults to
1,000,000); evaluation uses seeds below `EVAL_SEED_LIMIT` (100,000), so the two never overlap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.labels import NUM_CLASSES
from engine.models.layers import one_hot

__all__ = [
    "EVAL_SEED_LIMIT",
    "SampleSource",
    "MixedSource",
    "make_source",
    "StyleCache",
    "KeyedMemo",
    "pooled_source",
    "images_to_tensor",
    "labels_to_tensor",
    "net_configs",
    "load_nets",
    "require_nets",
    "init_matching",
]

#: Seeds below this are reserved for evaluation; training seeds start at TrainConfig.first_seed.
EVAL_SEED_LIMIT = 100_000


def images_to_tensor(images: list[np.ndarray], device) -> torch.Tensor:
    """uint8 HxWx3 arrays -> float ``[B,3,H,W]`` in [-1, 1]."""
    arr = np.stack([np.asarray(im, dtype=np.uint8) for im in images])
    t = torch.from_numpy(arr).to(device=device).permute(0, 3, 1, 2).float()
    return t / 127.5 - 1.0


def labels_to_tensor(labels: list[np.ndarray], device) -> torch.Tensor:
    """uint8 HxW id maps -> long ``[B,H,W]``."""
    arr = np.stack([np.asarray(lab, dtype=np.int64) for lab in labels])
    return torch.from_numpy(arr).to(device=device)


def onehot(labels: torch.Tensor) -> torch.Tensor:
    return one_hot(labels, NUM_CLASSES)


class SampleSource:
    """Sample number -> `Sample` (``.image`` uint8 HxWx3, ``.label`` uint8 HxW, ``.attrs``).

    ``synthetic``: rendered on the fly from seed ``first_seed + k``; ``synthetic:N``: only N faces,
    seeds ``first_seed .. first_seed + N - 1``. A folder dataset (``celebamask-hq:DIR``, ``lapa:DIR``,
    ``folder:DIR``, see `training.data.datasets.make_dataset`): item ``k mod N``. Finite corpora are
    walked through a permutation reshuffled every epoch, seeded by ``seed`` and the epoch, so resuming
    repeats it.
    """

    def __init__(self, spec: str, size: int, *, first_seed: int, seed: int = 0, split: str = "train"):
        from training.data.datasets import make_dataset, parse_spec

        self.spec = spec
        self.size = int(size)
        self.first_seed = int(first_seed)
        self.seed = int(seed)
        kind, arg = parse_spec(spec)
        self.synthetic = kind in ("synthetic", "synthetic-photo")
        self._perm_epoch = -1
        self._perm: np.ndarray | None = None
        self.length: int | None = None
        self.dataset = None
        if self.synthetic:
            if kind == "synthetic-photo":
                from training.data.synth_photo import render_photo_face as render
            else:
                from training.data.synthetic import render_face as render
            self._render = render
            if arg:
                self.length = int(arg) if arg.isdigit() and int(arg) > 0 else 0
                if not self.length:
                    raise ValueError(f"synthetic:N needs a positive integer N, got {arg!r}")
        else:
            self.dataset = make_dataset(spec, split, self.size)
            self.length = len(self.dataset)
            if self.length == 0:
                raise ValueError(f"dataset {spec!r} ({split}) holds no samples")

    def _index(self, k: int) -> int:
        """Position in a finite corpus for sample number ``k`` (epoch-wise permutation)."""
        epoch, i = divmod(int(k), self.length)
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.length)
            self._perm_epoch = epoch
        return int(self._perm[i])

    def seed_of(self, k: int) -> int:
        """The synthetic seed of sample number ``k``."""
        if not self.synthetic:
            raise ValueError(f"{self.spec!r} is not the synthetic corpus: its samples have no seeds")
        return self.first_seed + (int(k) if self.length is None else self._index(k))

    def __call__(self, k: int):
        return self.by_key(self.key_of(k))

    def key_of(self, k: int) -> int:
        """What identifies sample number ``k``: its seed (synthetic) or its index in the corpus."""
        return self.seed_of(k) if self.synthetic else self._index(k)

    def by_key(self, key: int):
        """The sample a `key_of` value names."""
        return self._render(key, self.size) if self.synthetic else self.dataset[key]


class MixedSource:
    """Several corpora drawn together: ``SPEC*W+SPEC*W`` (weights default to 1), e.g.
    ``synthetic-photo*0.5+folder:real*0.5``. Sample number ``k`` picks its corpus from ``(seed, k)``
    alone, in the weights' proportions, so a resumed run sees the same samples, and takes that corpus's
    sample ``k`` (a finite corpus is walked in a fresh order every epoch, so each of its epochs is seen
    in part, at the corpus's share). Only the parser stage reads mixtures."""

    def __init__(self, spec: str, size: int, *, first_seed: int, seed: int = 0, split: str = "train"):
        self.spec, self.seed = spec, int(seed)
        self.parts: list[SampleSource] = []
        weights = []
        for part in spec.split("+"):
            name, _, w = part.rpartition("*") if "*" in part else (part, "", "1")
            try:
                weights.append(float(w))
            except ValueError:
                raise ValueError(f"bad weight {w!r} in data spec {spec!r}; use SPEC*W+SPEC*W") from None
            self.parts.append(SampleSource(name.strip(), size, first_seed=first_seed, seed=seed, split=split))
        if any(w <= 0 for w in weights):
            raise ValueError(f"data spec {spec!r}: weights must be positive")
        self.cum = np.cumsum(weights) / sum(weights)
        self.synthetic = all(p.synthetic for p in self.parts)
        self.length = None

    def part_of(self, k: int) -> int:
        u = np.random.default_rng([self.seed, 7919, int(k)]).random()
        return int(min(np.searchsorted(self.cum, u, side="right"), len(self.parts) - 1))

    def __call__(self, k: int):
        return self.parts[self.part_of(k)](k)


def make_source(spec: str, size: int, *, first_seed: int, seed: int = 0, split: str = "train"):
    """A `SampleSource`, or a `MixedSource` for ``SPEC*W+SPEC*W``."""
    cls = MixedSource if "+" in spec else SampleSource
    return cls(spec, size, first_seed=first_seed, seed=seed, split=split)


def pooled_source(spec: str, size: int, *, first_seed: int, seed: int, pool: int) -> SampleSource:
    """The training source of a style-space stage: ``--data synthetic`` narrowed to ``pool`` faces
    (walked in a fresh order every epoch) when ``pool > 0``; any other corpus as it is."""
    if pool > 0 and spec == "synthetic":
        spec = f"synthetic:{pool}"
    return SampleSource(spec, size, first_seed=first_seed, seed=seed)


class KeyedMemo:
    """``compute(keys) -> one row per key``, memoised per key when ``keep`` (else computed every call).

    Only for results that depend on the key alone (frozen networks, seeded rendering): then a resumed
    run computes exactly what an uninterrupted one does. Keys repeated in one call are computed once.
    """

    def __init__(self, compute, *, keep: bool) -> None:
        self.compute, self.keep = compute, keep
        self._memo: dict = {}

    def __call__(self, keys: list) -> list:
        todo = [k for k in dict.fromkeys(keys) if k not in self._memo]
        found = dict(zip(todo, self.compute(todo), strict=True)) if todo else {}
        if self.keep:
            self._memo.update(found)
        return [self._memo[k] if k in self._memo else found[k] for k in keys]


class StyleCache:
    """Frozen-encoder styles of a source's samples, ``(styles [B,19,S], area [B,19])`` per batch.

    Style-space stages (rsm, flow) spend nearly all their time rendering and encoding faces, not on
    their own step. With ``keep`` the result for each sample is kept after its first use (`KeyedMemo`:
    the encoder is frozen and a sample's image depends only on its key). About 5 KB per face at S = 64.
    """

    def __init__(self, source: SampleSource, encoder: nn.Module, device, *, keep: bool) -> None:
        self.source, self.encoder, self.device = source, encoder, device
        self._memo = KeyedMemo(self._encode, keep=keep)

    @torch.no_grad()
    def _encode(self, keys: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        samples = [self.source.by_key(key) for key in keys]
        img = images_to_tensor([s.image for s in samples], self.device)
        mask = onehot(labels_to_tensor([s.label for s in samples], self.device))
        styles = self.encoder(img, mask).float()
        area = mask.flatten(2).mean(2)
        return list(zip(styles, area, strict=True))

    def __call__(self, positions: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = self._memo([self.source.key_of(k) for k in positions])
        return torch.stack([r[0] for r in rows]), torch.stack([r[1] for r in rows])


# --------------------------------------------------------------------------------------------------
# network sizes


def net_configs(tiny: bool) -> dict:
    """Constructor configs of every bundle network, consistent with each other (style dims, MSCA levels).

    Full size follows FEASIBILITY.md: S = 64, a quarter-width "lite" SEAN generator (~100 ms at 256² on
    two CPU cores), a 0.2M-parameter encoder.
    """
    from engine.models.encoder import EncoderConfig
    from engine.models.flow import FlowConfig
    from engine.models.generator import GeneratorConfig
    from engine.models.harmony import HarmonyConfig
    from engine.models.mapping import RSMConfig, StyleDiscriminatorConfig
    from engine.models.mrsa import MRSAConfig
    from engine.models.msca import MSCAConfig
    from engine.models.parser_net import ParserConfig

    if tiny:
        enc = EncoderConfig.tiny()
        s = enc.style_dim
        gen = GeneratorConfig.tiny(style_dim=s)
        levels = enc.pyramid_channels
        msca = MSCAConfig(
            feat_channels=levels, label_channels=8, k=(4,) * len(levels), out_channels=8, gate_hidden=8
        )
        return {
            "encoder": enc,
            "generator": gen,
            "mrsa": MRSAConfig(style_dim=s, attn_dim=8, ffn_dim=16),
            "msca": msca,
            "generator_msca": GeneratorConfig.tiny(style_dim=s, extra_channels=msca.out_channels),
            "rsm": RSMConfig(style_dim=s, z_dim=8, hidden=16, layers=2),
            "rsm_disc": StyleDiscriminatorConfig(style_dim=s, hidden=16, layers=2),
            "flow": FlowConfig(style_dim=s, hidden=16, class_embed=4, layers=2),
            "parser": ParserConfig.tiny(refine_channels=4),
            "harmony": HarmonyConfig.tiny(),
        }
    enc = EncoderConfig()
    s = enc.style_dim
    levels = enc.pyramid_channels
    k = tuple(8 if i == 0 else 16 for i in range(len(levels)))
    msca = MSCAConfig(feat_channels=levels, k=k)
    return {
        "encoder": enc,
        "generator": GeneratorConfig(style_dim=s),
        "mrsa": MRSAConfig(style_dim=s, ffn_dim=128),
        "msca": msca,
        "generator_msca": GeneratorConfig(style_dim=s, extra_channels=msca.out_channels),
        "rsm": RSMConfig(style_dim=s),
        "rsm_disc": StyleDiscriminatorConfig(style_dim=s),
        "flow": FlowConfig(style_dim=s),
        "parser": ParserConfig(refine_channels=12),
        "harmony": HarmonyConfig(),
    }


# --------------------------------------------------------------------------------------------------
# networks from earlier stages


def _bundle_dir(path: str | Path) -> Path:
    p = Path(path)
    if (p / "bundle.json").is_file():
        return p
    if (p / "nets" / "bundle.json").is_file():
        return p / "nets"
    raise FileNotFoundError(
        f"{p} holds no networks: pass a bundle folder or a stage's --out folder (which has nets/bundle.json)"
    )


def load_nets(path: str | Path, names: tuple[str, ...] | list[str] | None = None) -> dict[str, nn.Module]:
    """Networks from a bundle folder or a finished stage's ``--out`` folder (CPU, eval mode).

    ``names``: those wanted (missing ones are simply absent from the result); None = all.
    """
    from engine.bundle import load_bundle

    bundle = load_bundle(_bundle_dir(path), device=torch.device("cpu"))
    return {n: m for n, m in bundle.nets.items() if names is None or n in names}


def require_nets(path: str, names: tuple[str, ...], option: str, why: str) -> dict[str, nn.Module]:
    """Like `load_nets` but every name must be there; the error names the option to fix."""
    if not path:
        raise ValueError(f"{why}: pass --{option} DIR (a bundle or the --out folder of that stage)")
    nets = load_nets(path, names)
    missing = [n for n in names if n not in nets]
    if missing:
        raise ValueError(f"--{option} {path} has no {', '.join(missing)} network ({why})")
    return nets


@torch.no_grad()
def init_matching(dst: nn.Module, src: nn.Module) -> int:
    """Copy every tensor of ``src`` whose name and shape match into ``dst``; returns how many."""
    own = dst.state_dict()
    n = 0
    for k, v in src.state_dict().items():
        if k in own and own[k].shape == v.shape:
            own[k].copy_(v)
            n += 1
    return n
