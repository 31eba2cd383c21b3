"""The compositing half of :class:`engine.rendering.Renderer` (a mixin): a state's render carried over
the photo, in its crop (:meth:`Compositing.render`), in the full photo (:meth:`Compositing.compose_full`)
and in the editor's view of it (:meth:`Compositing.view`). The composite modes are described in
:mod:`engine.rendering`; 'changed' is :mod:`engine.detail`, 'moved' is :mod:`engine.reshape` and
:mod:`engine.reshape_fill`, and both reach the photo through :mod:`engine.photospace`."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from engine import composite, detail, photospace, photoview, reshape, reshape_fill, workmask
from engine.labels import INDEX, NUM_CLASSES
from engine.prepared import PreparedImage, mask_key
from engine.state import EditState
from engine.styles import edited_regions

FEATHER_PX = 3.0
#: Classes a reshape may take a reference's texture for, when the photo lacks them (Renderer._texture_refs).
TEXTURE_CLASSES = frozenset(INDEX[n] for n in ("skin", "hair", "hat", "neck", "cloth"))

__all__ = ["FEATHER_PX", "TEXTURE_CLASSES", "Compositing"]


class Compositing:
    """Compositing methods; expects the Renderer's (model_state, generate, generate_unedited, plan,
    styled_region, changed_region, is_unedited, checkpoint, refs)."""

    def _refined(self, prep: PreparedImage, state: EditState, res: detail.DetailResult) -> detail.DetailResult:
        """``res`` (made on the R grid) with its new-content and styled regions refined on the working
        grid of ``state``, so the paste follows the edges where they were painted."""
        coarse = np.asarray(res.new_alpha) >= 0.999
        model = self.model_state(prep, state).mask
        res = replace(res, soft_seam=_soft_seam(coarse, model))
        if state.mask.shape == res.new_alpha.shape:
            return res
        new = None
        if coarse.any():
            new = workmask.fine_edges(coarse, state.mask, prep.work_mask, model)
        styled = None
        if res.styled is not None:
            styled = self.styled_region(prep, state)
            if new is not None:
                styled &= ~new
        return replace(res, work_new=new, work_styled=styled)

    # --- compositing ----------------------------------------------------------------------------
    def _unedited_lab(self, prep: PreparedImage, state: EditState) -> np.ndarray:
        """Lab of :meth:`generate_unedited`, cached per (mask bytes, harmoniser variant) on the image."""
        msca = state.harmonizer == "msca" and bool(edited_regions(state))
        variant = ("msca", float(min(state.alpha, 1.0))) if msca else ("plain",)
        return prep.cache.unedited.get(
            (mask_key(state.mask), variant), lambda: composite.rgb_to_lab(self.generate_unedited(prep, state))
        )

    @staticmethod
    def _photo_lab(prep: PreparedImage) -> np.ndarray:
        if prep.cache.photo_lab is None:
            prep.cache.photo_lab = composite.rgb_to_lab(prep.crop)
        return prep.cache.photo_lab

    def detail_result(self, prep: PreparedImage, state: EditState) -> detail.DetailResult:
        """The detail-preserving composite of the state (the last one is cached on the image)."""
        hit = prep.cache.detail
        if hit is not None and (hit[0] is state or hit[0].same_as(state)):
            return hit[1]
        res = self._refined(prep, state, self._detail_on_grid(prep, self.model_state(prep, state)))
        prep.cache.detail = (state, res)
        return res

    def _detail_on_grid(self, prep: PreparedImage, state: EditState) -> detail.DetailResult:
        reshaped = state.mask != prep.parsed_mask
        segments = state.mask.astype(np.int32)
        for i, fr in enumerate(state.free_regions):
            segments[fr.mask()] += NUM_CLASSES * (i + 1)
        if state.composite == "moved" and reshaped.any():
            return self._moved_result(prep, state, segments)
        styled = self.styled_region(prep, state) & ~reshaped
        gen = self.generate(prep, state)
        self.checkpoint()
        return detail.detail_composite(
            prep.crop,
            gen,
            detail_region=styled,
            reshape_region=reshaped,
            segments=segments,
            feather_px=FEATHER_PX,
            photo_lab=self._photo_lab(prep),
            unedited_lab=self._unedited_lab(prep, state) if styled.any() else None,
        )

    def _moved_result(self, prep: PreparedImage, state: EditState, segments: np.ndarray):
        """A reshape that moves the photo's pixels (:mod:`engine.reshape`), with the state's style
        changes composited on top; the change is relative to the moved crop, and carries the move
        (``flow``) so that the photo is moved at its own resolution."""
        gen = self.generate(prep, state)
        self.checkpoint()
        plan = self.plan(prep, state)
        self.checkpoint()
        before = self.generate_before(prep, state)
        self.checkpoint()
        moved = reshape.warp_image(prep.crop, plan.flow)
        shaped, _ = reshape_fill.reshape_composite(prep.crop, gen, prep.parsed_mask, state.mask, plan=plan,
                                                   moved=moved, in_photo=prep.in_photo, gen_before=before,
                                                   texture_from=self._texture_refs(prep, state))  # fmt: skip
        # a class the photo does not have (glasses, a hat added) has no texture to borrow, unless it took
        # a reference's: there the generator's colour-matched pixels are used, as in 'changed' mode
        new_class = plan.synth & ~np.asarray(prep.present, bool)[state.mask] & ~plan.from_reference
        if new_class.any():
            painted = detail.detail_composite(
                prep.crop, gen, detail_region=np.zeros_like(new_class), reshape_region=new_class,
                segments=segments, feather_px=FEATHER_PX, photo_lab=self._photo_lab(prep),
            )  # fmt: skip
            shaped = composite.blend_crop(shaped, painted.rgb, painted.support)
        styled = self.styled_region(prep, state)
        styled &= ~plan.from_reference  # already in the reference's colour: not restyled again
        top = detail.detail_composite(
            shaped, gen, detail_region=styled, reshape_region=np.zeros_like(styled), segments=segments,
            feather_px=FEATHER_PX, unedited_lab=self._unedited_lab(prep, state) if styled.any() else None,
        )  # fmt: skip
        synth = np.any(shaped != moved, axis=-1)  # what the move alone does not give
        delta = top.delta_lab.copy()
        delta[synth] += composite.rgb_to_lab(shaped[synth]) - composite.rgb_to_lab(moved[synth])
        support = np.maximum(composite.feather(synth | plan.reach, 1.0), top.support)
        return detail.DetailResult(
            top.rgb, delta, support, composite.feather(plan.synth, 1.0), top.detail_delta, top.styled,
            plan.flow, moved, texture_offset=plan.texture, sharpen=plan.sharpen,
        )  # fmt: skip

    def _texture_refs(self, prep: PreparedImage, state: EditState) -> dict:
        """{class: (reference crop, where it shows the class)} for the classes whose style comes from a
        reference that has them: a reshape painting one the photo has too little of (hair painted on a
        shaved head) takes its texture there (:func:`engine.reshape_fill.reshape_composite`).
        Only classes that are their own surface (``TEXTURE_CLASSES``): glasses and jewellery are mostly
        what shows through or around them, so a reference's region of them has no colour to copy."""
        out = {}
        for c, o in state.overrides:
            if o.kind != "reference" or o.ref not in self.refs or c not in TEXTURE_CLASSES:
                continue
            ref = self.refs.get(o.ref)
            src = c if o.source_region is None else o.source_region
            if ref.present[src]:
                out[int(c)] = (ref.crop, ref.parsed_mask == src)
        return out

    def render(self, prep: PreparedImage, state: EditState) -> np.ndarray:
        """The crop-size result of the state, composited over the photo's crop."""
        self.model_state(prep, state)  # checks the mask's size
        if self.is_unedited(prep, state):
            return prep.crop.copy()
        if state.composite in ("changed", "moved"):
            return self.detail_result(prep, state).rgb.copy()
        gen = self.generate(prep, state)
        if state.composite == "whole":
            return gen
        w = composite.feather(self.changed_region(prep, state), FEATHER_PX)
        return composite.blend_crop(prep.crop, gen, w)

    def change_of(self, prep: PreparedImage, state: EditState, crop_result: np.ndarray | None = None):
        """The state's change as a :class:`engine.detail.DetailResult` ('changed' / 'moved'), from the
        detail composite, or, for a crop made elsewhere, its difference from the photo's crop."""
        if crop_result is None:
            return self.detail_result(prep, state)
        hit = prep.cache.detail
        if hit is not None and hit[0].same_as(state) and np.array_equal(hit[1].rgb, crop_result):
            return hit[1]
        state = self.model_state(prep, state)
        reshaped = state.mask != prep.parsed_mask
        support = np.maximum(
            composite.feather(self.changed_region(prep, state), FEATHER_PX),
            composite.feather(reshaped, detail.reshape_band(reshaped.shape[0], FEATHER_PX)),
        )
        delta = composite.rgb_to_lab(np.asarray(crop_result)) - self._photo_lab(prep)
        delta[support == 0] = 0.0
        return detail.DetailResult(crop_result, delta, support, composite.feather(reshaped, 1.0))

    def compose_full(self, prep: PreparedImage, state: EditState, crop_result: np.ndarray | None = None):
        """The full-size photo with the edit applied; untouched pixels stay bit-exact."""
        if self.is_unedited(prep, state):
            return prep.photo.rgb.copy()
        if state.composite in ("changed", "moved"):
            res = self.change_of(prep, state, crop_result)
            return photospace.paste_change(prep.photo.rgb, prep.crop, res, prep.alignment.matrix)
        if crop_result is None:
            crop_result = self.render(prep, state)
        region = self.changed_region(prep, state)
        if state.composite == "whole":
            w = composite.feather(np.pad(np.ones_like(region)[4:-4, 4:-4], 4), FEATHER_PX)
        else:
            w = composite.feather(region, FEATHER_PX)
        return composite.paste_back(prep.photo.rgb, crop_result, w, prep.alignment.matrix)

    def view(self, prep: PreparedImage, state: EditState, scale: float | None = None, visible=None):
        """What the editor's photo-space view of the state changes since the last call for this image
        (:class:`engine.photoview.ViewCompositor`) at ``scale`` (view px per photo px, at most
        :func:`engine.photoview.view_scale`, the default); the same paste as :meth:`compose_full`. A
        new scale starts a new view. ``visible`` (x0, y0, x1, y1, photo pixels): the part on screen,
        composed first (the rest when it is seen). 'raw' and 'whole' modes are shown as their crop
        pasted back."""
        top = photoview.view_scale(prep.photo.rgb.shape, prep.alignment.matrix, prep.crop.shape[0])
        scale = top if scale is None else float(min(max(scale, 1e-3), top))
        comp = prep.cache.view
        if comp is None or abs(comp.scale - scale) > 1e-9:
            comp = prep.cache.view = photoview.ViewCompositor(
                prep.photo.rgb, prep.crop, prep.alignment.matrix, scale, prep.work_mask.shape[0]
            )
        if self.is_unedited(prep, state):
            res = detail.DetailResult(prep.crop, *_no_change(prep.crop.shape[0]))
        elif state.composite in ("changed", "moved"):
            res = self.detail_result(prep, state)
        else:
            res = self.change_of(prep, state, self.render(prep, state))
        if visible is not None:
            visible = tuple(int(np.floor(v * scale)) if i < 2 else int(np.ceil(v * scale)) + 1
                            for i, v in enumerate(visible))  # fmt: skip
        return comp.update(res, visible=visible)


def _soft_seam(new: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """Where the new-content region ``new`` meets pixels of the same class outside it (within 2 px on
    either side), smoothed: float32 in [0, 1], None when nowhere."""
    if not new.any():
        return None
    k = np.ones((5, 5), np.uint8)
    zone = np.zeros(new.shape, bool)
    for c in np.unique(mask[new]):
        same = mask == c
        inside, outside = new & same, ~new & same
        if outside.any():
            zone |= (cv2.dilate(inside.astype(np.uint8), k) > 0) & (cv2.dilate(outside.astype(np.uint8), k) > 0)
    if not zone.any():
        return None
    return np.clip(cv2.GaussianBlur(zone.astype(np.float32), (0, 0), 1.0) * 1.5, 0.0, 1.0)


def _no_change(size: int):
    return (np.zeros((size, size, 3), np.float32), np.zeros((size, size), np.float32),
            np.zeros((size, size), np.float32))  # fmt: skip
