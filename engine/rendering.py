"""Rendering and compositing of edit states: the part of :class:`engine.faceengine.FaceEngine` that turns a
state into a crop and into the full-size photo.

Composite modes (``EditState.composite``):

- ``changed`` (default): detail-preserving (:mod:`engine.detail`). Where only a style changed, the photo
  is moved by the low-frequency difference between the edited and the unedited render (same mask, same
  noise seed), keeping its own texture; where the mask changed, colour- and grain-matched generated
  pixels are blended in with a multi-band blend. The unedited render is cached per (image, mask bytes,
  harmoniser variant) on the prepared image, so dragging a slider pays for one generator pass, not two;
  a mask stroke with no style edits needs no unedited render at all. Export carries the change into the
  full-size photo as a Lab delta (:func:`engine.composite.paste_detail`), so the photo's full-resolution
  detail survives.
- ``raw``: the changed regions take the generated pixels with a plain feathered blend.
- ``whole``: the whole face is regenerated.

An unedited state (no style edits, the parsed mask) renders and exports as the photo, bit for bit.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
import torch

from engine import composite, detail
from engine.labels import NUM_CLASSES
from engine.prepared import EngineError, PreparedImage
from engine.state import EditState, Override

FEATHER_PX = 3.0
UNEDITED_CACHE = 4  # unedited renders kept per image (one per mask / harmoniser variant)

__all__ = ["FEATHER_PX", "CompositeMixin"]


class CompositeMixin:
    """Rendering for FaceEngine. Relies on its ``generate``, ``own_style``, ``_run``, ``_mask_tensor``,
    ``_msca_nets``, ``_msca_extra`` and ``generator``."""

    @staticmethod
    def edited_regions(state: EditState) -> list[int]:
        """Classes whose override changes their style (an untuned "own" override changes nothing)."""
        return [r for r, ov in state.overrides if not _is_noop(ov)]

    def is_unedited(self, prep: PreparedImage, state: EditState) -> bool:
        return (
            not self.edited_regions(state)
            and not state.free_regions
            and state.composite in ("changed", "raw")
            and np.array_equal(state.mask, prep.parsed_mask)
        )

    def styled_region(self, prep: PreparedImage, state: EditState) -> np.ndarray:
        """Pixels whose style changed (edited classes of the state's mask, free regions): bool [R,R]."""
        region = np.zeros(state.mask.shape, bool)
        ids = self.edited_regions(state)
        if ids:
            region |= np.isin(state.mask, ids)
        for fr in state.free_regions:
            region |= fr.mask()
        return region

    def changed_region(self, prep: PreparedImage, state: EditState) -> np.ndarray:
        """Pixels whose class or style changed (bool [R,R]); 'whole' mode: the whole crop."""
        if state.composite == "whole":
            return np.ones(state.mask.shape, bool)
        return (state.mask != prep.parsed_mask) | self.styled_region(prep, state)

    @torch.inference_mode()
    def generate_unedited(self, prep: PreparedImage, state: EditState) -> np.ndarray:
        """The state's mask rendered with the photo's own styles, through the same generator (and, for
        MSCA, spatial features of the photo itself) as :meth:`generate` uses for the state."""
        m = self._mask_tensor(state.mask)
        s_t = torch.stack([self.own_style(prep, r) for r in range(NUM_CLASSES)])
        if state.harmonizer == "msca" and self.edited_regions(state):
            msca, gen = self._msca_nets()
            extra = self._msca_extra(prep, state.mask, msca) * float(min(state.alpha, 1.0))
            return self._run(gen, m, s_t, extra)
        return self._run(self.generator, m, s_t, None)

    def _unedited_lab(self, prep: PreparedImage, state: EditState) -> np.ndarray:
        """Lab of :meth:`generate_unedited`, cached per (mask bytes, harmoniser variant) on the image."""
        msca = state.harmonizer == "msca" and bool(self.edited_regions(state))
        variant = ("msca", float(min(state.alpha, 1.0))) if msca else ("plain",)
        key = (hashlib.sha1(state.mask.tobytes()).hexdigest(), variant)
        cache = prep._cache.setdefault("unedited", OrderedDict())
        if key not in cache:
            cache[key] = composite.rgb_to_lab(self.generate_unedited(prep, state))
            while len(cache) > UNEDITED_CACHE:
                cache.popitem(last=False)
        cache.move_to_end(key)
        return cache[key]

    @staticmethod
    def _photo_lab(prep: PreparedImage) -> np.ndarray:
        if "photo_lab" not in prep._cache:
            prep._cache["photo_lab"] = composite.rgb_to_lab(prep.crop)
        return prep._cache["photo_lab"]

    def detail_result(self, prep: PreparedImage, state: EditState) -> detail.DetailResult:
        """The detail-preserving composite of the state (the last one is cached on the image)."""
        hit = prep._cache.get("detail")
        if hit is not None and (hit[0] is state or hit[0].same_as(state)):
            return hit[1]
        reshape = state.mask != prep.parsed_mask
        styled = self.styled_region(prep, state) & ~reshape
        segments = state.mask.astype(np.int32)
        for i, fr in enumerate(state.free_regions):
            segments[fr.mask()] += NUM_CLASSES * (i + 1)
        res = detail.detail_composite(
            prep.crop,
            self.generate(prep, state),
            detail_region=styled,
            reshape_region=reshape,
            segments=segments,
            feather_px=FEATHER_PX,
            photo_lab=self._photo_lab(prep),
            unedited_lab=self._unedited_lab(prep, state) if styled.any() else None,
        )
        prep._cache["detail"] = (state, res)
        return res

    def render(self, prep: PreparedImage, state: EditState) -> np.ndarray:
        """The crop-size result of the state, composited over the photo's crop."""
        if state.mask.shape != prep.parsed_mask.shape:
            raise EngineError(f"mask is {state.mask.shape}, expected {prep.parsed_mask.shape}")
        if self.is_unedited(prep, state):
            return prep.crop.copy()
        if state.composite == "changed":
            return self.detail_result(prep, state).rgb.copy()
        gen = self.generate(prep, state)
        if state.composite == "whole":
            return gen
        w = composite.feather(self.changed_region(prep, state), FEATHER_PX)
        return composite.blend_crop(prep.crop, gen, w)

    def compose_full(self, prep: PreparedImage, state: EditState, crop_result: np.ndarray | None = None):
        """The full-size photo with the edit applied; untouched pixels stay bit-exact."""
        if self.is_unedited(prep, state):
            return prep.photo.rgb.copy()
        if state.composite == "changed":
            res = None
            if crop_result is None:
                res = self.detail_result(prep, state)
            else:
                hit = prep._cache.get("detail")
                if hit is not None and hit[0].same_as(state) and np.array_equal(hit[1].rgb, crop_result):
                    res = hit[1]
            if res is None:  # a crop from elsewhere: carry its difference from the photo's crop
                reshape = state.mask != prep.parsed_mask
                support = np.maximum(
                    composite.feather(self.changed_region(prep, state), FEATHER_PX),
                    composite.feather(reshape, detail.reshape_band(reshape.shape[0], FEATHER_PX)),
                )
                delta = composite.rgb_to_lab(np.asarray(crop_result)) - self._photo_lab(prep)
                delta[support == 0] = 0.0
                res = detail.DetailResult(crop_result, delta, support, composite.feather(reshape, 1.0))
            return composite.paste_detail(
                prep.photo.rgb, prep.crop, res.delta_lab, res.support, res.new_alpha, prep.alignment.matrix
            )
        if crop_result is None:
            crop_result = self.render(prep, state)
        region = self.changed_region(prep, state)
        if state.composite == "whole":
            w = composite.feather(np.pad(np.ones_like(region)[4:-4, 4:-4], 4), FEATHER_PX)
        else:
            w = composite.feather(region, FEATHER_PX)
        return composite.paste_back(prep.photo.rgb, crop_result, w, prep.alignment.matrix)


def _is_noop(ov: Override) -> bool:
    """An override that leaves the region's style as it is (the photo's own, untuned)."""
    return ov.kind == "own" and not ov.tuned
