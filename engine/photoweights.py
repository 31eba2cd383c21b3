"""The weights that carry a crop-space region into the photo's pixels (:mod:`engine.photospace`):
smooth curved edges instead of the crop's pixel steps, a style weight snapped to the photo's own edges,
the photo's rim of what new content replaces, and the fade at the crop's border."""

from __future__ import annotations

import cv2
import numpy as np

from engine.composite import affine_scale, rgb_to_lab, warp_affine
from engine.refine import guided_filter

__all__ = ["BORDER_FRAC", "EDGE_PX", "border_ramp", "edge_source", "edge_target", "edge_weight",
           "extend_across", "fringe_weight", "smooths", "snap_to_photo"]  # fmt: skip

#: Width (target px) of the ramp every enlarged region edge is sharpened to.
EDGE_PX = 1.5
#: Smoothing (crop px) of a region's coverage before it is enlarged: it turns the crop's pixel steps
#: into curves. (Parts thinner than 3 crop px are carried bilinearly instead, see `edge_weight`.)
EDGE_SIGMA = 0.8
#: How far (crop px) past new content a pixel may still show what the content replaced (the parse's
#: outline a little off the photo's edge), and the least Lab contrast between the two that tells them apart.
FRINGE_CROP_PX = 0.75
FRINGE_MIN_CONTRAST = 15.0
#: Regions are smoothed before they are enlarged more than this many times (target px per source px).
SMOOTH_ABOVE = 1.0
#: Fraction of the crop's side over which every weight fades out at the crop's border.
BORDER_FRAC = 1.0 / 32.0
#: A style weight below this is 0 (the guided filter's far tails).
STYLE_CUTOFF = 0.03
#: Guided-filter regulariser (on [0, 1] colours): edges of contrast above ~0.05 are followed.
GUIDE_EPS = 2e-3


def border_ramp(size: int) -> np.ndarray:
    """float32 size² map: 0 on the crop's outermost pixel ring, rising smoothly to 1 at ``BORDER_FRAC``
    of the side inside it."""
    width = max(2.0, BORDER_FRAC * size)
    d = np.minimum(np.arange(size), np.arange(size)[::-1]).astype(np.float32)
    t = np.clip(d / width, 0.0, 1.0)
    t = t * t * (3.0 - 2.0 * t)
    return np.minimum(t[:, None], t[None, :])


def smooths(to_target: np.ndarray) -> bool:
    """Whether a region carried by ``to_target`` is smoothed first: whenever a source pixel covers more
    than one target pixel (at 1.5 target px per working-grid pixel its steps showed as a sawtooth)."""
    return affine_scale(to_target) > SMOOTH_ABOVE


def edge_weight(region: np.ndarray, to_target: np.ndarray, dsize: tuple[int, int]) -> np.ndarray:
    """A crop-space region (bool or float coverage) in the target: bilinear coverage of the lightly
    smoothed region, sharpened to a ramp of ``EDGE_PX`` target pixels around its half level. float32
    (h, w) = dsize[::-1] in [0, 1]."""
    return edge_target(edge_source(region, smooths(to_target)), to_target, dsize)


def edge_source(region: np.ndarray, smooth: bool) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """The source-side part of :func:`edge_weight` (the same for every box of one target)."""
    cov = np.asarray(region, np.float32)
    if not smooth:
        return cov, None, False
    cov = cv2.GaussianBlur(cov, (0, 0), EDGE_SIGMA, borderType=cv2.BORDER_REPLICATE)
    # parts thinner than 3 source px (a glasses frame, a strand) would fall below the half level: they
    # are carried plain bilinearly instead, soft but present
    r = np.asarray(region) > 0.5
    thin = r & ~(cv2.morphologyEx(r.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0)
    return cov, thin.astype(np.float32) if thin.any() else None, True


def edge_target(src, to_target: np.ndarray, dsize: tuple[int, int]) -> np.ndarray:
    cov, thin, smooth = src
    cov = warp_affine(cov, to_target, dsize, border="constant")
    if not smooth:
        return np.clip(cov, 0.0, 1.0)
    # a step blurred by a Gaussian climbs through its half level with slope 1 / (sigma sqrt(2 pi)) per
    # source px: (cov - 0.5) * sigma * sqrt(2 pi) * scale is the distance to the edge in target px
    dist = (cov - 0.5) * (EDGE_SIGMA * np.sqrt(2.0 * np.pi) * affine_scale(to_target))
    t = np.clip(dist / EDGE_PX + 0.5, 0.0, 1.0)
    w = t * t * (3.0 - 2.0 * t)
    if thin is not None:
        w = np.maximum(w, warp_affine(thin, to_target, dsize, border="constant"))
    return w.astype(np.float32)


def snap_to_photo(weight: np.ndarray, photo: np.ndarray, scale: float) -> np.ndarray:
    """``weight`` moved onto the photo's own edges (guided filter, the photo as guide)."""
    band = (weight > 0) & (weight < 1)
    if not band.any():
        return weight
    r = int(np.clip(round(scale), 2, 8))
    g = photo.astype(np.float32) / 255.0
    out = guided_filter(g, weight[:, :, None], r, GUIDE_EPS)[:, :, 0]
    out = np.clip(out, 0.0, 1.0)
    out[out < STYLE_CUTOFF] = 0.0
    return out


def fringe_weight(a: np.ndarray, src: np.ndarray, scale: float) -> np.ndarray:
    """How much each pixel just outside new content (``a`` ≥ 0.99) shows what that content replaces:
    the parse's outline sits a pixel or two off the photo's own edge, so removed dark hair leaves a dark
    rim on the cheek beside it. Within ``FRINGE_CROP_PX`` of the content, a pixel's colour is unmixed
    between the replaced colour just inside (``src``, the photo as moved) and the kept colour just beyond
    the band: 1 = all replaced, 0 = all kept. 0 wherever the two colours are alike (nothing to tell
    apart: a flat wall) and everywhere else. float32, ``a``'s shape. The two local colours are smooth,
    so they are averaged on a grid a few pixels coarse (a large photo's band is millions of pixels
    around)."""
    out = np.zeros(a.shape, np.float32)
    inside = a >= 0.99
    if not inside.any() or inside.all():
        return out
    reach = max(1.5, FRINGE_CROP_PX * scale)  # target px
    dist = cv2.distanceTransform((~inside).astype(np.uint8), cv2.DIST_L2, 3)
    band = (dist > 0) & (dist <= reach)
    if not band.any():
        return out
    ys, xs = np.nonzero(band)
    m = int(np.ceil(reach * 3)) + 2
    y0, y1 = max(0, ys.min() - m), min(a.shape[0], ys.max() + m + 1)
    x0, x1 = max(0, xs.min() - m), min(a.shape[1], xs.max() + m + 1)
    d = dist[y0:y1, x0:x1]
    rgb = src[y0:y1, x0:x1].astype(np.float32)
    f = max(1, int(0.5 * reach))  # the coarse grid's step
    h, w = d.shape
    hs, ws = -(-h // f), -(-w // f)

    def coarse(x):
        return cv2.resize(x, (ws, hs), interpolation=cv2.INTER_AREA) if f > 1 else x

    def local_mean(where):
        """The mean colour of the ``where`` pixels around each coarse cell, and how many there are."""
        mw = coarse(where.astype(np.float32))
        v = cv2.GaussianBlur(coarse(rgb * where[:, :, None]), (0, 0), reach / f)
        n = cv2.GaussianBlur(mw, (0, 0), reach / f)
        return v / np.maximum(n, 1e-4)[:, :, None], n

    rep, n_in = local_mean(d == 0)
    kept, n_out = local_mean((d > reach) & (d <= 3 * reach))
    by, bx = ys - y0, xs - x0
    # bilinear samples of the coarse maps at the band's pixels (cell centres at (i + 0.5) f - 0.5)
    gy = np.clip((by + 0.5) / f - 0.5, 0, hs - 1)
    gx = np.clip((bx + 0.5) / f - 0.5, 0, ws - 1)
    iy, ix = gy.astype(np.int64), gx.astype(np.int64)
    fy, fx = (gy - iy)[:, None], (gx - ix)[:, None]
    iy1, ix1 = np.minimum(iy + 1, hs - 1), np.minimum(ix + 1, ws - 1)

    def at(mp):
        mp = mp if mp.ndim == 3 else mp[:, :, None]
        top = mp[iy, ix] * (1 - fx) + mp[iy, ix1] * fx
        bot = mp[iy1, ix] * (1 - fx) + mp[iy1, ix1] * fx
        return top * (1 - fy) + bot * fy

    lab_rep = rgb_to_lab(np.clip(at(rep), 0, 255))
    lab_kept = rgb_to_lab(np.clip(at(kept), 0, 255))
    lab_c = rgb_to_lab(rgb[by, bx])
    diff = lab_rep - lab_kept
    n2 = (diff**2).sum(-1)
    t = ((lab_c - lab_kept) * diff).sum(-1) / np.maximum(n2, 1e-6)
    ok = (n2 > FRINGE_MIN_CONTRAST**2) & (at(n_in)[:, 0] > 0.05) & (at(n_out)[:, 0] > 0.05)
    # fading out towards the band's far side, so the band's own edge never shows
    t = np.clip(t, 0.0, 1.0) * np.clip((reach - dist[ys, xs]) / (0.5 * reach), 0.0, 1.0)
    out[ys, xs] = np.where(ok, t, 0.0)
    return out


def extend_across(x: np.ndarray, inside: np.ndarray, px: float) -> np.ndarray:
    """``x`` (H×W×3) kept on ``inside`` and carried ~``px`` crop pixels past it (normalised blur)."""
    m = inside.astype(np.float32)
    num = cv2.GaussianBlur(x * m[:, :, None], (0, 0), px)
    den = cv2.GaussianBlur(m, (0, 0), px)
    out = np.where(den[:, :, None] > 1e-3, num / np.maximum(den, 1e-3)[:, :, None], 0.0).astype(np.float32)
    out[inside] = x[inside]
    return out
