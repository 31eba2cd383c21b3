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

import hashlib
from dataclasses import replace

import cv2
import numpy as np
import torch

from engine import composite, detail, photospace, photoview, reshape, reshape_fill, workmask
from engine.errors import Superseded
from engine.harmonise import Harmonised, harmonise, msca_features
from engine.labels import INDEX, NUM_CLASSES
from engine.networks import Networks, image_tensor, mask_tensor, to_uint8
from engine.prepared import LRU, EngineError, PreparedImage, ReferenceStore
from engine.state import EditState, FreeRegion
from engine.styles import StyleResolver, is_noop

FEATHER_PX = 3.0
MSCA_FEATURES = 4  # MSCA feature maps kept (per exemplar and target mask)
#: Classes a reshape may take a reference's texture for, when the photo lacks them (Renderer._texture_refs).
TEXTURE_CLASSES = frozenset(INDEX[n] for n in ("skin", "hair", "hat", "neck", "cloth"))

__all__ = ["FEATHER_PX", "Renderer", "edited_regions"]


def _key(mask: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(mask).tobytes()).hexdigest()


def edited_regions(state: EditState) -> list[int]:
    """Classes whose override changes their style (an untuned "own" override changes nothing)."""
    return [r for r, ov in state.overrides if not is_noop(ov)]


class Renderer:
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
            (prep.id, _key(state.mask)),
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

        return self._msca.get((exemplar.id, _key(mask)), make)

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

    # --- compositing ----------------------------------------------------------------------------
    def _unedited_lab(self, prep: PreparedImage, state: EditState) -> np.ndarray:
        """Lab of :meth:`generate_unedited`, cached per (mask bytes, harmoniser variant) on the image."""
        msca = state.harmonizer == "msca" and bool(edited_regions(state))
        variant = ("msca", float(min(state.alpha, 1.0))) if msca else ("plain",)
        return prep.cache.unedited.get(
            (_key(state.mask), variant), lambda: composite.rgb_to_lab(self.generate_unedited(prep, state))
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


def _shrink_region(region: np.ndarray, size: int) -> np.ndarray:
    """A working-grid region on the R×R grid: the pixels it covers at least half of (any it touches,
    when it covers none that much)."""
    cover = cv2.resize(region.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return cover >= 0.5 if (cover >= 0.5).any() else cover > 0


def _no_change(size: int):
    return (np.zeros((size, size, 3), np.float32), np.zeros((size, size), np.float32),
            np.zeros((size, size), np.float32))  # fmt: skip
