"""A crop-space change carried into the photo's own pixels: the export, and the editor's view of it.

The networks work on an R×R aligned crop; the user's photo is often 5-20 times the crop's side. A change
computed on the crop (:class:`engine.detail.DetailResult`) reaches the photo as a Lab delta added to the
photo's own pixels, so its detail survives. How the crop's label maps are enlarged decides whether the
result looks photographic, so every map is carried the same way:

The weights themselves live in :mod:`engine.photoweights`.

- **Edges are curves, not pixel blocks.** A region (a class, the reshaped pixels) becomes a coverage
  map, lightly smoothed in the crop, warped bilinearly, then sharpened to a ramp of ``EDGE_PX`` target
  pixels around its half level (:func:`edge_weight`). Nothing is ever enlarged nearest-neighbour.
- **A style change stays inside its region.** Its weight is the region's edge weight snapped to the
  photo's own edges by a guided filter (the photo is the guide), then cut to 0 below ``STYLE_CUTOFF``: a
  recoloured strand of hair is recoloured, the wall behind it is not.
- **New content meets the photo along the smooth edge.** The new content (as content, not as a change
  to the pixels under it, which would carry their contrast across: a light halo) and the delta outside
  it are each extended a couple of crop pixels across the edge and mixed by the edge weight, so the
  crop's pixel grid never shows as a staircase. The parse's outline sits a pixel or two off the photo's
  own edge, so the new content also covers the photo pixels just outside it whose colour is that of
  what it replaces (the dark rim removed hair leaves on a cheek), as far as the two colours can be told
  apart (:func:`fringe_weight`).
- **No straight seams.** Every weight fades to 0 over the outer ``BORDER_FRAC`` of the crop, so a change
  that reaches the crop's border is feathered into the photo, not cut by the crop's edge. Pixels outside
  the photo do not exist here: nothing is computed or shown there.
- **Regrain.** A move that magnifies the photo (fuller lips) spreads its finest grain over more
  pixels: that band is raised by the magnification (capped) and fresh grain at the photo's own level of
  it (:func:`engine.photograin.fine_level`) makes up what the magnification took.
- **Grain** for new content has the photo's own level (measured just outside the region) and is drawn
  from each pixel's position in the target image, so a box computed alone (:class:`ViewCompositor`)
  matches the same box of the whole.

Every target pixel none of these weights reaches is the photo's, bit for bit. The same function builds
the export (the full photo) and the editor's view (the photo reduced to ``view_scale``), and the view is
recomposed only in the box a new change differs from the last one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from engine.composite import (
    _box_footprint,
    _check_matrix,
    _robust_std,
    _translate,
    affine_scale,
    check_photo_and_crop,
    compose_affine,
    lab_to_rgb,
    rgb_to_lab,
    warp_affine,
)
from engine.detail import DetailResult
from engine.photograin import SHARPEN_SIGMA, coord_noise, fine_level, grain_level
from engine.photoweights import (
    EDGE_PX,
    border_ramp,
    edge_source,
    edge_target,
    edge_weight,
    extend_across,
    fringe_weight,
    smooths,
    snap_to_photo,
)
from engine.reshape_fill import TEXTURE_CLIP
from engine.workmask import work_to_crop

__all__ = ["EDGE_PX", "border_ramp", "edge_weight", "paste_change"]

#: Synthesised content copies the photo's detail finer than this (target px, a Gaussian's σ) from where its
#: texture came; coarser detail comes from the crop (and grain).
FINE_DETAIL_SIGMA = 1.5
#: Blur (crop px) of the new content's weight where it meets pixels of its own class.
SOFT_SEAM_SIGMA = 1.2


def _any_channel(x: np.ndarray) -> np.ndarray:
    """``x.any(axis=-1)`` for a few channels, without numpy's slow reduction over a short last axis."""
    out = x[..., 0].copy()
    for c in range(1, x.shape[-1]):
        out |= x[..., c]
    return out


# ---------------------------------------------------------------------------------------- the paste
@dataclass
class _Pieces:
    """The crop-space maps of one change, ready to be warped."""

    size: int
    delta_in: np.ndarray  # Lab delta of the new content, extended past the reshaped pixels
    delta_out: np.ndarray  # the blend band's delta around them (and a legacy change), extended inwards
    delta_style: np.ndarray | None  # the style change of unreshaped pixels
    reshaped: np.ndarray  # bool
    styled: np.ndarray | None  # bool: pixels whose style changed
    reach: np.ndarray  # float: > 0 wherever the change may act, border ramp applied
    ramp: np.ndarray
    flow: np.ndarray | None = None  # crop px, border ramp applied: a reshape's move
    base_crop: np.ndarray | None = None  # the crop moved by the flow
    work_new: np.ndarray | None = None  # ``reshaped`` on the working grid (finer edges)
    work_styled: np.ndarray | None = None  # ``styled`` on the working grid
    soft_seam: np.ndarray | None = None  # where new content meets its own class: a soft blend
    texture: np.ndarray | None = None  # crop px (dx, dy), NaN where none: where new content's detail is from
    sharpen: np.ndarray | None = None  # gain of the finest band of moved pixels, border ramp applied
    sources: dict = field(default_factory=dict)  # edge-weight source maps, made on first use


def _pieces(res: DetailResult, crop: np.ndarray) -> _Pieces:
    size = res.support.shape[0]
    ramp = border_ramp(size)
    delta = np.asarray(res.delta_lab, np.float32)
    reshaped = np.asarray(res.new_alpha) >= 0.999
    if reshaped.any():
        # the new content is carried past its edge as content, not as a change: a change carried onto a
        # pixel unlike the ones it was made on (skin beside removed dark hair) would add the contrast
        # between them (a light halo)
        base = rgb_to_lab(np.asarray(crop if res.base_crop is None else res.base_crop))
        delta_in = extend_across(base + delta, reshaped, 2.0) - base
    style = None if res.detail_delta is None else np.asarray(res.detail_delta, np.float32)
    out = delta * (~reshaped)[:, :, None]
    if style is not None:
        out = out - style * (~reshaped)[:, :, None]
    return _Pieces(
        size,
        delta_in if reshaped.any() else delta,
        extend_across(out, ~reshaped, 2.0) if reshaped.any() else out,
        style,
        reshaped,
        None if res.styled is None else np.asarray(res.styled, bool) & ~reshaped,
        np.asarray(res.support, np.float32) * ramp,
        ramp,
        None if res.flow is None else np.asarray(res.flow, np.float32) * ramp[:, :, None],
        None if res.base_crop is None else np.asarray(res.base_crop),
        None if res.work_new is None else np.asarray(res.work_new, bool),
        None if res.work_styled is None else np.asarray(res.work_styled, bool),
        None if res.soft_seam is None else np.asarray(res.soft_seam, np.float32) * ramp,
        None if res.texture_offset is None else np.asarray(res.texture_offset, np.float32),
        None if res.sharpen is None or not np.any(res.sharpen) else np.asarray(res.sharpen, np.float32) * ramp,
    )


class _PhotoDetail:
    """The photo's fine detail (Lab minus its Gaussian blur of σ = ``FINE_DETAIL_SIGMA``, or half a crop
    pixel when that is less), computed on demand over the part of the photo asked for, and kept."""

    def __init__(self, photo: np.ndarray, target_per_crop_px: float, first_box=None):
        self.photo = photo
        self.sigma = min(0.5 * float(target_per_crop_px), FINE_DETAIL_SIGMA)
        self.box: tuple[int, int, int, int] | None = None
        self.hp: np.ndarray | None = None
        self.first_box = first_box  # computed whole on first use (the crop's footprint): no regrowing

    def at(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        H, W = self.photo.shape[:2]
        pad = int(np.ceil(3 * self.sigma)) + 1
        need = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        if self.box is None and self.first_box is not None:
            fb = self.first_box
            need = (min(need[0], fb[0]), min(need[1], fb[1]), max(need[2], fb[2]), max(need[3], fb[3]))
        b = self.box
        if b is None or need[0] < b[0] or need[1] < b[1] or need[2] > b[2] or need[3] > b[3]:
            if b is not None:  # grow to cover both, so a view's boxes do not recompute it each time
                need = (min(need[0], b[0]), min(need[1], b[1]), max(need[2], b[2]), max(need[3], b[3]))
            x0, y0 = max(0, need[0] - pad), max(0, need[1] - pad)
            x1, y1 = min(W, need[2] + pad), min(H, need[3] + pad)
            lab = rgb_to_lab(np.ascontiguousarray(self.photo[y0:y1, x0:x1]))
            self.hp = lab - cv2.GaussianBlur(lab, (0, 0), self.sigma, borderType=cv2.BORDER_REFLECT)
            self.box = (x0, y0, x1, y1)
        x0, y0 = self.box[:2]
        return self.hp[ys - y0, xs - x0]


def _region_weight(pieces: _Pieces, name: str, to_target: np.ndarray, dsize) -> np.ndarray:
    """:func:`edge_weight` of the region ``name`` ('reshaped' or 'styled'), from its working-grid
    version when there is one; the source side is made once per change."""
    coarse, fine = getattr(pieces, name), getattr(pieces, "work_new" if name == "reshaped" else "work_styled")
    region, to_src = coarse, to_target
    if fine is not None and fine.shape != coarse.shape:
        region, to_src = fine, compose_affine(to_target, work_to_crop(fine.shape[0] / coarse.shape[0]))
    smooth = smooths(to_src)
    key = (name, smooth)
    if key not in pieces.sources:
        pieces.sources[key] = edge_source(region, smooth)
    return edge_target(pieces.sources[key], to_src, dsize)


def _paste_roi(photo, crop, pieces: _Pieces, m, box, *, grain_sigma, seed, detail: _PhotoDetail | None = None,
               fine_sigma=None):  # fmt: skip
    """(x0, y0, x1, y1, patch uint8, changed bool) of the target box ``box`` (or the change's whole
    footprint); None when the change does not reach the target."""
    ys, xs = np.nonzero(pieces.reach > 0)
    if len(ys) == 0:
        return None
    inverse = cv2.invertAffineTransform(m)
    H, W = photo.shape[:2]
    fx0, fy0, fx1, fy1 = _box_footprint(inverse, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), (W, H))
    if box is not None:
        fx0, fy0 = max(fx0, box[0]), max(fy0, box[1])
        fx1, fy1 = min(fx1, box[2]), min(fy1, box[3])
    if fx1 <= fx0 or fy1 <= fy0:
        return None
    scale = 1.0 / affine_scale(m)  # target px per crop px
    pad = 2 * int(np.clip(round(scale), 2, 8)) + 4  # the guided filter's reach, so a box matches the whole
    x0, y0 = max(0, fx0 - pad), max(0, fy0 - pad)
    x1, y1 = min(W, fx1 + pad), min(H, fy1 + pad)
    to_roi = compose_affine(_translate(-x0, -y0), inverse)
    dsize = (x1 - x0, y1 - y0)
    roi = photo[y0:y1, x0:x1]

    def warp(x):
        return warp_affine(np.ascontiguousarray(x), to_roi, dsize, border="constant")

    reach = warp(pieces.reach)
    ramp = warp(pieces.ramp)
    src = roi  # the photo, or the photo moved by the reshape's flow (sampled at its own resolution)
    if pieces.flow is not None:
        flow = warp(pieces.flow)  # crop px, on the target grid
        d = flow @ to_roi[:, :2].T  # -> target px
        gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        mx, my = (gx + d[..., 0]).astype(np.float32), (gy + d[..., 1]).astype(np.float32)
        src = cv2.remap(photo, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        moved_px = _any_channel(np.abs(flow) > 0.05)  # as the plan's reach: 0.05 crop px
        if pieces.sharpen is not None:  # a magnifying move's softened texture, given back its contrast
            gain = warp(pieces.sharpen) * moved_px
            if gain.max() > 0.01:
                f = src.astype(np.float32)
                fine = f - cv2.GaussianBlur(f, (0, 0), SHARPEN_SIGMA, borderType=cv2.BORDER_REFLECT)
                out_f = f + gain[:, :, None] * fine
                if fine_sigma is not None:
                    # and regrained: a pixel magnified m times lost the photo's finest grain but 1/m² of
                    # it; fresh grain at the photo's own level makes up the rest
                    mag = 1.0 + gain
                    amount = np.sqrt(np.clip(1.0 - 1.0 / mag**2, 0.0, 1.0))[:, :, None]
                    out_f += amount * coord_noise(x0, y0, gain.shape, seed + 1) * np.asarray(fine_sigma, np.float32)
                src = np.rint(out_f).clip(0, 255).astype(np.uint8)
    a = _region_weight(pieces, "reshaped", to_roi, dsize) * ramp if pieces.reshaped.any() else None
    if a is not None and scale > 1.25:
        a = np.maximum(a, fringe_weight(a, src, scale))
    if a is not None and pieces.soft_seam is not None:
        # new content beside its own class (new hair meeting old hair) has no edge to keep: blended
        # over a couple of crop pixels there, so the crop's pixel grid never shows as a cut
        if "soft" not in pieces.sources:
            pieces.sources["soft"] = cv2.GaussianBlur(pieces.reshaped.astype(np.float32), (0, 0), SOFT_SEAM_SIGMA)
        z = warp(pieces.soft_seam)
        a = a + z * (np.clip(warp(pieces.sources["soft"]), 0.0, 1.0) * ramp - a)
    change = warp(pieces.delta_out) * ramp[:, :, None]
    sel = reach > 0
    if pieces.flow is not None:
        sel |= moved_px
    if pieces.delta_style is not None and pieces.styled is not None and pieces.styled.any():
        w = snap_to_photo(_region_weight(pieces, "styled", to_roi, dsize), src, scale) * ramp
        change += w[:, :, None] * warp(pieces.delta_style)
        sel |= w > 0
    elif pieces.delta_style is not None:
        change += warp(pieces.delta_style) * ramp[:, :, None]
    if a is not None:
        change = a[:, :, None] * warp(pieces.delta_in) + (1.0 - a[:, :, None]) * change
        sel |= a > 0
    # only the requested box is written
    inner = np.zeros(sel.shape, bool)
    inner[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0] = True
    sel &= inner
    patch = roi.copy()
    if sel.any():
        patch[sel] = src[sel]
        P = rgb_to_lab(src[sel])
        new = P + change[sel]
        if a is not None:
            av = a[sel][:, None]
            touched = av[:, 0] > 0
            if touched.any():
                base = crop if pieces.base_crop is None else pieces.base_crop
                up = warp_affine(np.ascontiguousarray(base), to_roi, dsize, border="replicate")[sel]
                resid = np.zeros_like(P)
                resid[touched] = P[touched] - rgb_to_lab(up[touched])
                new -= av * resid
                copied = np.zeros(len(P), bool)
                if pieces.texture is not None and detail is not None and scale > 1.25:
                    # synthesised content takes the photo's own fine detail from where its texture came
                    off = cv2.warpAffine(pieces.texture, to_roi, dsize, flags=cv2.INTER_NEAREST,
                                         borderMode=cv2.BORDER_CONSTANT, borderValue=(np.nan, np.nan))[sel]
                    copied = touched & np.isfinite(off[:, 0])
                    if copied.any():
                        yy, xx = np.nonzero(sel)
                        d = off[copied] @ to_roi[:, :2].T.astype(np.float32)
                        sx = np.clip(np.rint(xx[copied] + x0 + d[:, 0]), 0, W - 1).astype(np.int64)
                        sy = np.clip(np.rint(yy[copied] + y0 + d[:, 1]), 0, H - 1).astype(np.int64)
                        fine = detail.at(sy, sx)
                        # the class's own grain, not strays (wisps of removed hair on a wall)
                        lim = TEXTURE_CLIP * np.maximum(_robust_std(fine), 0.5)
                        new[copied] += av[copied] * np.clip(fine, -lim, lim)
                if grain_sigma is not None:
                    yy, xx = np.nonzero(sel)
                    noise = coord_noise(x0, y0, sel.shape, seed)[yy, xx]
                    # the copied detail is this class's own grain, from the photo: no synthetic grain on top (the
                    # grain level is measured around the change, often on another class)
                    noise[copied] = 0.0
                    new += av * noise * np.asarray(grain_sigma, np.float32)
        moved = _any_channel(new != P)
        vals = patch[sel]
        vals[moved] = np.rint(lab_to_rgb(new[moved])).clip(0, 255).astype(np.uint8)
        patch[sel] = vals
    sl = (slice(fy0 - y0, fy1 - y0), slice(fx0 - x0, fx1 - x0))
    return fx0, fy0, fx1, fy1, patch[sl], sel[sl]


def paste_change(photo_rgb: np.ndarray, crop_rgb: np.ndarray, res: DetailResult, matrix, *,
                 grain: bool = True, seed: int = 0) -> np.ndarray:  # fmt: skip
    """The photo (uint8 H×W×3, any size) with the crop-space change ``res`` applied (see the module doc).
    ``crop_rgb`` is the photo's aligned crop, ``matrix`` maps the photo to the crop. Returns a new array;
    pixels the change does not reach are the photo's, bit for bit."""
    photo, crop = check_photo_and_crop(photo_rgb, crop_rgb)
    _check_result(res, crop.shape[0])
    m = _check_matrix(matrix)
    out = photo.copy()
    sigma = grain_level(photo, crop, res, m) if grain else None
    detail = _PhotoDetail(photo, 1.0 / affine_scale(m))  # (the export asks once: only what it needs)
    fine = fine_level(photo, res, m) if grain else None
    got = _paste_roi(photo, crop, _pieces(res, crop), m, None, grain_sigma=sigma, seed=seed, detail=detail,
                     fine_sigma=fine)  # fmt: skip
    if got is not None:
        x0, y0, x1, y1, patch, _ = got
        out[y0:y1, x0:x1] = patch
    return out


def _check_result(res: DetailResult, size: int) -> None:
    if np.shape(res.delta_lab) != (size, size, 3):
        raise ValueError(f"delta_lab must be {(size, size, 3)}, got {np.shape(res.delta_lab)}")
    for name in ("support", "new_alpha"):
        if np.shape(getattr(res, name)) != (size, size):
            raise ValueError(f"{name} must be {size}×{size}, got {np.shape(getattr(res, name))}")
    if res.sharpen is not None and np.shape(res.sharpen) != (size, size):
        raise ValueError(f"sharpen must be {size}×{size}, got {np.shape(res.sharpen)}")
    for name in ("work_new", "work_styled"):
        v = getattr(res, name)
        if v is not None and (np.ndim(v) != 2 or v.shape[0] != v.shape[1] or v.shape[0] % size):
            raise ValueError(f"{name} must be a square multiple of {size}, got {np.shape(v)}")
