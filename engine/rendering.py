"""Rendering of edit states: the crop-size result and the full-size photo (`Renderer`).

Composite modes (``EditState.composite``):

- ``changed``: detail-preserving (:mod:`engine.detail`). Where only a style changed, the photo
  is moved by the low-frequency difference between the edited and the unedited render (same mask, same
  noise seed), keeping its own texture; where the mask changed, colour- and grain-matched generated
  pixels are blended in with a multi-band blend. The unedited render is cached per (image, mask bytes,
  harmoniser variant) in the image's cache, so dragging a slider pays for one generator pass, not two;
  a mask stroke with no style edits needs no unedited render at all. Export carries the change into the
  full-size photo as a Lab delta (:func:`engine.photospace.paste_change`), so the photo's
  full-resolution detail survives; the editor's photo-space view is the same paste at its own scale.
- ``moved`` (the default): as ``changed``, but where the mask changed the photo's own pixels are moved
  onto the new regions (:mod:`engine.reshape`; the export moves the full-resolution photo), and what no
  move explains is synthesised from the same region's texture on the generator's plan.
- ``raw``: the changed regions take the generated pixels with a plain feathered blend.
- ``whole``: the whole face is regenerated.

An unedited state (no style edits, the parsed mask) renders and exports as the photo, bit for bit.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import torch

from engine import composite, reshape
from engine.compositing import FEATHER_PX, Compositing
from engine.errors import Superseded
from engine.harmonise import Harmonised, harmonise, msca_features
from engine.labels import NUM_CLASSES
from engine.networks import Networks, image_tensor, mask_tensor, to_uint8
from engine.prepared import LRU, EngineError, PreparedImage, ReferenceStore, mask_key
from engine.state import EditState, FreeRegion
from engine.styles import StyleResolver, edited_regions

MSCA_FEATURES = 4  # MSCA feature maps kept (per exemplar and target mask)

__all__ = ["FEATHER_PX", "Renderer"]


class Renderer(Compositing):
    """Generates and composites states for one engine: its networks, styles and references."""

    def __init__(self, nets: Networks, styles: StyleResolver, refs: ReferenceStore, device, autocast: bool):
        self.nets = nets
        self.styles = styles
        self.refs = refs
        self.device = device
        self.autocast = autocast
        self._msca: LRU[torch.Tensor] = LRU(MSCA_FEATURES)
        self._plans: LRU[reshape.ReshapePlan] = LRU(4)
        self.stop = None  # set for one render: stop() True -> give up at the next checkpoint

    def checkpoint(self) -> None:
        """Raise :class:`engine.errors.Superseded` when the render under way is no longer wanted."""
        if self.stop is not None and self.stop():
            raise Superseded("a newer render is waiting")

    # --- the working grid -------------------------------------------------------------------------
    def model_state(self, prep: PreparedImage, state: EditState) -> EditState:
        """The state with its mask (and free regions) on the networks' R×R grid (:mod:`engine.workmask`);
        a state already there is returned as it is. The last conversion is kept on the image."""
        R, W = prep.parsed_mask.shape[0], prep.work_mask.shape[0]
        shape = state.mask.shape
        if shape == (R, R):
            return state
        if shape != (W, W):
            raise EngineError(f"mask is {shape[1]}×{shape[0]}, expected {W}×{W} (or {R}×{R})")
        hit = prep.cache.model
        if hit is not None and (hit[0] is state or hit[0].same_as(state)):
            return hit[1]
        free = tuple(FreeRegion.from_mask(fr.ref, _shrink_region(fr.mask(), R)) for fr in state.free_regions)
        out = replace(state, mask=prep.model_mask(state.mask), free_regions=free)
        prep.cache.model = (state, out)
        return out

    # --- regions --------------------------------------------------------------------------------
    def is_unedited(self, prep: PreparedImage, state: EditState) -> bool:
        state = self.model_state(prep, state)
        return (
            not edited_regions(state)
            and not state.free_regions
            and state.composite in ("changed", "moved", "raw")
            and np.array_equal(state.mask, prep.parsed_mask)
        )

    def styled_region(self, prep: PreparedImage, state: EditState) -> np.ndarray:
        """Pixels whose style changed (edited classes of the state's mask, free regions): bool, on the
        state's grid."""
        region = np.zeros(state.mask.shape, bool)
        ids = edited_regions(state)
        if ids:
            region |= np.isin(state.mask, ids)
        for fr in state.free_regions:
            region |= fr.mask()
        return region

    def changed_region(self, prep: PreparedImage, state: EditState) -> np.ndarray:
        """Pixels whose class or style changed (bool [R,R]), and in 'moved' mode the pixels a reshape
        moves; 'whole' mode: the whole crop. On the networks' R×R grid."""
        state = self.model_state(prep, state)
        if state.composite == "whole":
            return np.ones(state.mask.shape, bool)
        region = (state.mask != prep.parsed_mask) | self.styled_region(prep, state)
        if state.composite == "moved" and (state.mask != prep.parsed_mask).any():
            region |= self.plan(prep, state).reach
        return region

    def plan(self, prep: PreparedImage, state: EditState) -> reshape.ReshapePlan:
        """The reshape from the parse to the state's mask (:func:`engine.reshape.plan_reshape`),
        cached per (image, mask)."""
        state = self.model_state(prep, state)
        return self._plans.get(
            (prep.id, mask_key(state.mask)),
            lambda: reshape.plan_reshape(prep.parsed_mask, state.mask, in_photo=prep.in_photo),
        )

    # --- generation -----------------------------------------------------------------------------
    def _mask(self, mask: np.ndarray) -> torch.Tensor:
        return mask_tensor(mask, self.device)

    def _exemplar(self, prep: PreparedImage, state: EditState) -> PreparedImage:
        """MSCA's exemplar: the reference the state uses most, or the photo itself."""
        counts: dict[str, int] = {}
        for _, o in state.overrides:
            if o.ref:
                counts[o.ref] = counts.get(o.ref, 0) + 1
        return self.refs.get(max(counts, key=counts.get)) if counts else prep

    def _msca_features(self, exemplar: PreparedImage, mask: np.ndarray) -> torch.Tensor:
        def make() -> torch.Tensor:
            ex = (image_tensor(exemplar.crop, self.device), self._mask(exemplar.parsed_mask))
            return msca_features(self.nets, self._mask(mask), *ex)

        return self._msca.get((exemplar.id, mask_key(mask)), make)

    def harmonised(self, prep: PreparedImage, state: EditState, s_t, s_r, edited, pasted) -> Harmonised:
        """The state's harmoniser (:func:`engine.harmonise.harmonise`) on one image's styles."""
        features = None
        if state.harmonizer == "msca" and edited.any():
            features = self._msca_features(self._exemplar(prep, state), state.mask)
        return harmonise(
            self.nets, state.harmonizer, s_t[None], s_r[None], torch.as_tensor(pasted)[None],
            alpha=state.alpha, edited=torch.as_tensor(edited)[None], features=features,
        )

    def _run(self, h: Harmonised, mask_t: torch.Tensor) -> np.ndarray:
        with torch.autocast("cuda", enabled=self.autocast):
            return to_uint8(Harmonised(h.styles.float(), h.generator, h.extra).generate(mask_t))

    @torch.inference_mode()
    def generate(self, prep: PreparedImage, state: EditState) -> np.ndarray:
        """The raw generated crop for the state (no compositing)."""
        state = self.model_state(prep, state)
        r = self.styles.resolve(prep, state)
        h = self.harmonised(prep, state, r.own, r.composed, r.edited, r.pasted)
        m = self._mask(state.mask)
        img = self._run(h, m)
        for fr in state.free_regions:
            ref = self.refs.get(fr.ref)
            ref_styles = torch.stack(
                [ref.styles[c] if ref.present[c] else h.styles[0, c] for c in range(NUM_CLASSES)]
            )
            alt = self._run(Harmonised(ref_styles[None], h.generator, h.extra), m)
            img = composite.blend_crop(img, alt, composite.feather(fr.mask(), FEATHER_PX))
        return img

    def generate_before(self, prep: PreparedImage, state: EditState) -> np.ndarray:
        """The state's styles rendered on the parse (the mask before a reshape), cached on the image
        while only the mask changes: a reshape's strokes reuse it."""
        before = self.model_state(prep, state).with_mask(prep.parsed_mask)
        hit = prep.cache.before
        if hit is None or not hit[0].same_as(before):
            hit = prep.cache.before = (before, self.generate(prep, before))
        return hit[1]

    @torch.inference_mode()
    def generate_unedited(self, prep: PreparedImage, state: EditState) -> np.ndarray:
        """The state's mask rendered with the photo's own styles, through the same generator (and, for
        MSCA, spatial features of the photo itself) as :meth:`generate` uses for the state."""
        state = self.model_state(prep, state)
        s_t = self.styles.own_styles(prep)[None]
        none = torch.zeros(s_t.shape[:2], dtype=torch.bool)
        features = None
        method = "msca" if state.harmonizer == "msca" and edited_regions(state) else "off"
        if method == "msca":
            features = self._msca_features(prep, state.mask)
        h = harmonise(self.nets, method, s_t, s_t, none, alpha=state.alpha, edited=~none, features=features)
        return self._run(h, self._mask(state.mask))


def _shrink_region(region: np.ndarray, size: int) -> np.ndarray:
    """A working-grid region on the R×R grid: the pixels it covers at least half of (any it touches,
    when it covers none that much)."""
    cover = cv2.resize(region.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return cover >= 0.5 if (cover >= 0.5).any() else cover > 0
