"""Style resolution: an edit state's overrides -> the 19 style vectors the generator is given.

``StyleResolver`` turns each override into a style: the photo's own (or, for a class the photo lacks,
the flow's class mean), a reference's, a blend towards one, a colour edit (the region recoloured in Lab
and encoded again, cached per image), a random RSM draw, each optionally moved in the CNF's z-space.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from engine import labels
from engine.networks import Networks, image_tensor, mask_tensor
from engine.prepared import EngineError, PreparedImage, ReferenceStore
from engine.state import PASTED_KINDS, EditState, Override

__all__ = ["ResolvedStyles", "StyleResolver", "edited_regions", "is_noop", "recolor"]


def is_noop(ov: Override) -> bool:
    """An override that leaves the region's style as it is (the photo's own, untuned)."""
    return ov.kind == "own" and not ov.tuned


def edited_regions(state: EditState) -> list[int]:
    """Classes whose override changes their style (an untuned "own" override changes nothing)."""
    return [r for r, ov in state.overrides if not is_noop(ov)]


def recolor(crop: np.ndarray, where: np.ndarray, rgb) -> np.ndarray:
    """Move the region's colour to ``rgb`` in Lab, keeping its lightness variation (its texture)."""
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)
    target = cv2.cvtColor(np.uint8([[rgb]]), cv2.COLOR_RGB2LAB).astype(np.float32)[0, 0]
    region = lab[where]
    region[:, 0] += target[0] - region[:, 0].mean()
    region[:, 1:] = target[1:]
    lab[where] = region
    return cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


@dataclass(frozen=True)
class ResolvedStyles:
    own: torch.Tensor  # s_t [19, S]: the photo's own styles
    composed: torch.Tensor  # s'_r [19, S]: every override applied
    edited: np.ndarray  # bool [19]: rows whose style changed
    pasted: np.ndarray  # bool [19]: edited rows taken from another face (MRSA corrects these)


class StyleResolver:
    def __init__(self, nets: Networks, refs: ReferenceStore, device: torch.device):
        self.nets = nets
        self.refs = refs
        self.device = device

    @torch.inference_mode()
    def encode(self, crop: np.ndarray, mask: np.ndarray) -> torch.Tensor:
        """Region styles [19, S] of ``crop`` under ``mask``."""
        enc = self.nets.need("encoder")
        return enc(image_tensor(crop, self.device), mask_tensor(mask, self.device))[0].float()

    def own_style(self, prep: PreparedImage, region: int) -> torch.Tensor:
        if prep.present[region]:
            return prep.styles[region]
        if self.nets.flow is not None:  # a class the photo lacks: the mean style of the class
            return self.nets.flow.mean[region].to(self.device).float()
        return torch.zeros(self.nets.need("encoder").cfg.style_dim, device=self.device)

    def own_styles(self, prep: PreparedImage) -> torch.Tensor:
        return torch.stack([self.own_style(prep, r) for r in range(labels.NUM_CLASSES)])

    def reference_style(self, region: int, ov: Override) -> torch.Tensor:
        ref = self.refs.get(ov.ref)
        src = region if ov.source_region is None else ov.source_region
        if not ref.present[src]:
            raise EngineError(
                f"the reference has no {labels.DISPLAY_NAMES[src].lower()} region to take a style from"
            )
        return ref.styles[src]

    def color_style(self, prep: PreparedImage, state: EditState, region: int, rgb) -> torch.Tensor:
        where = state.mask == region
        if not where.any():
            where = prep.parsed_mask == region
        if not where.any():
            raise EngineError(f"there is no {labels.DISPLAY_NAMES[region].lower()} region to colour")
        key = (region, tuple(rgb), hashlib.sha1(np.packbits(where).tobytes()).hexdigest())

        def make() -> torch.Tensor:
            mask = np.where(where, region, 0).astype(np.uint8)
            return self.encode(recolor(prep.crop, where, rgb), mask)[region]

        return prep.cache.color_styles.get(key, make)

    def rsm_groups(self) -> dict[str, tuple[int, ...]]:
        """The regions one random draw (RSM) styles together, as this bundle's RSM was trained."""
        if self.nets.rsm is not None:
            return dict(self.nets.rsm.cfg.groups)
        return dict(labels.RSM_GROUPS)

    def random_style(self, region: int, seed: int) -> torch.Tensor:
        with torch.inference_mode():
            return self.nets.need("rsm").sample(region, seed).to(self.device).float()

    def tune_style(self, style: torch.Tensor, region: int, seed: int, eta: float) -> torch.Tensor:
        """``style`` moved by η along a seeded unit direction in the flow's z-space, and back."""
        flow = self.nets.need("flow")
        g = torch.Generator().manual_seed(int(seed))
        d = torch.randn(style.shape[-1], generator=g)
        d = (d / d.norm()).to(self.device)
        cls = torch.tensor([region], device=self.device)
        with torch.inference_mode():
            z = flow.to_z(style[None].float(), cls)
            return flow.from_z(z + eta * d, cls)[0]

    def resolve(self, prep: PreparedImage, state: EditState) -> ResolvedStyles:
        s_t = self.own_styles(prep)
        s_r = s_t.clone()
        n = labels.NUM_CLASSES
        edited, pasted = np.zeros(n, bool), np.zeros(n, bool)
        for region, ov in state.overrides:
            if ov.kind == "own":
                style = s_t[region]
            elif ov.kind == "reference":
                style = self.reference_style(region, ov)
            elif ov.kind == "interp":
                style = torch.lerp(s_t[region], self.reference_style(region, ov), float(ov.t))
            elif ov.kind == "color":
                style = self.color_style(prep, state, region, ov.rgb)
            elif ov.kind == "random":
                style = self.random_style(region, ov.seed)
            else:  # pragma: no cover - Override validates kinds
                raise EngineError(f"unknown override {ov.kind}")
            if ov.tuned:
                style = self.tune_style(style, region, ov.tune_seed, ov.tune_eta)
            s_r[region] = style
            edited[region] = not is_noop(ov)
            pasted[region] = edited[region] and ov.kind in PASTED_KINDS
        return ResolvedStyles(s_t, s_r, edited, pasted)
