"""Grain in the photo-space paste (:mod:`engine.photospace`): the photo's own grain levels, measured
where a change lands, and noise drawn from each pixel's position in the target image (so a box
composed alone matches the same box of the whole)."""

from __future__ import annotations

import cv2
import numpy as np

from engine.composite import (
    _box_footprint,
    _check_matrix,
    _robust_std,
    _translate,
    affine_scale,
    compose_affine,
    rgb_to_lab,
    warp_affine,
)
from engine.detail import DetailResult

__all__ = ["SHARPEN_SIGMA", "coord_noise", "fine_level", "grain_level"]

#: The band (target px, a Gaussian's σ) a magnifying move's sharpening raises (engine.reshape._sharpen).
SHARPEN_SIGMA = 1.0

_NOISE_TILE = 256
_noise_tiles: dict[int, np.ndarray] = {}


def coord_noise(x0: int, y0: int, shape: tuple[int, int], seed: int) -> np.ndarray:
    """Standard-normal noise (H×W×3) that depends only on each pixel's target position and ``seed``
    (a fixed 256² noise tile repeated: at grain scale the repetition does not show)."""
    tile = _noise_tiles.get(seed)
    if tile is None:
        tile = np.random.default_rng([seed, 4099]).standard_normal((_NOISE_TILE, _NOISE_TILE, 3))
        tile = _noise_tiles[seed] = tile.astype(np.float32)
    h, w = shape
    ys = (np.arange(y0, y0 + h) % _NOISE_TILE)[:, None]
    xs = (np.arange(x0, x0 + w) % _NOISE_TILE)[None, :]
    return tile[ys, xs]


def grain_level(photo: np.ndarray, crop: np.ndarray, res: DetailResult, matrix) -> np.ndarray | None:
    """The photo's fine grain level (robust σ per Lab channel) just outside the reshaped pixels, as seen
    in ``photo``; None where there is nothing reshaped or the photo is not finer than the crop."""
    m = _check_matrix(matrix)
    scale = 1.0 / affine_scale(m)
    reshaped = np.asarray(res.new_alpha) >= 0.999
    if scale <= 1.25 or not reshaped.any():
        return None
    ring_crop = cv2.dilate(reshaped.astype(np.uint8), None, iterations=2).astype(bool) & ~reshaped
    ys, xs = np.nonzero(ring_crop)
    inverse = cv2.invertAffineTransform(m)
    H, W = photo.shape[:2]
    x0, y0, x1, y1 = _box_footprint(inverse, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), (W, H))
    if x1 <= x0 or y1 <= y0:
        return None
    to_roi = compose_affine(_translate(-x0, -y0), inverse)
    dsize = (x1 - x0, y1 - y0)
    ring = warp_affine(ring_crop.astype(np.float32), to_roi, dsize, border="constant") > 0.99
    if ring.sum() < 16:
        return None
    roi = photo[y0:y1, x0:x1]
    up = warp_affine(np.ascontiguousarray(crop), to_roi, dsize, border="replicate")
    return _robust_std(rgb_to_lab(roi[ring]) - rgb_to_lab(up[ring]))


def fine_level(photo: np.ndarray, res: DetailResult, matrix) -> np.ndarray | None:
    """The photo's finest band (RGB minus its Gaussian blur of σ ``SHARPEN_SIGMA``; robust σ per
    channel) where a move magnifies it (``res.sharpen``), as seen in ``photo``; None where nothing is
    magnified or the photo is not finer than the crop."""
    m = _check_matrix(matrix)
    if res.sharpen is None or 1.0 / affine_scale(m) <= 1.25:
        return None
    where = np.asarray(res.sharpen) > 0.01
    if not where.any():
        return None
    ys, xs = np.nonzero(where)
    inverse = cv2.invertAffineTransform(m)
    H, W = photo.shape[:2]
    x0, y0, x1, y1 = _box_footprint(inverse, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), (W, H))
    if x1 <= x0 or y1 <= y0:
        return None
    to_roi = compose_affine(_translate(-x0, -y0), inverse)
    inside = warp_affine(where.astype(np.float32), to_roi, (x1 - x0, y1 - y0), border="constant") > 0.5
    if inside.sum() < 16:
        return None
    f = photo[y0:y1, x0:x1].astype(np.float32)
    fine = f - cv2.GaussianBlur(f, (0, 0), SHARPEN_SIGMA, borderType=cv2.BORDER_REFLECT)
    return _robust_std(fine[inside])
