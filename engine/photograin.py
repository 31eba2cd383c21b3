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


def _in_photo(region: np.ndarray, matrix: np.ndarray, shape, level: float):
    """A crop-space region (bool) as photo pixels: ((x0, y0, x1, y1), bool mask of that box, the
    crop → box affine), or None where it misses the photo or covers fewer than 16 of its pixels. A
    box pixel belongs to the region where the warped region's coverage is above ``level``."""
    ys, xs = np.nonzero(region)
    inverse = cv2.invertAffineTransform(matrix)
    H, W = shape[:2]
    x0, y0, x1, y1 = _box_footprint(inverse, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), (W, H))
    if x1 <= x0 or y1 <= y0:
        return None
    to_roi = compose_affine(_translate(-x0, -y0), inverse)
    inside = warp_affine(region.astype(np.float32), to_roi, (x1 - x0, y1 - y0), border="constant") > level
    return None if inside.sum() < 16 else ((x0, y0, x1, y1), inside, to_roi)


def grain_level(photo: np.ndarray, crop: np.ndarray, res: DetailResult, matrix) -> np.ndarray | None:
    """The photo's fine grain level (robust σ per Lab channel) just outside the reshaped pixels, as seen
    in ``photo``; None where there is nothing reshaped or the photo is not finer than the crop."""
    m = _check_matrix(matrix)
    reshaped = np.asarray(res.new_alpha) >= 0.999
    if 1.0 / affine_scale(m) <= 1.25 or not reshaped.any():
        return None
    ring_crop = cv2.dilate(reshaped.astype(np.uint8), None, iterations=2).astype(bool) & ~reshaped
    got = _in_photo(ring_crop, m, photo.shape, 0.99)
    if got is None:
        return None
    (x0, y0, x1, y1), ring, to_roi = got
    up = warp_affine(np.ascontiguousarray(crop), to_roi, (x1 - x0, y1 - y0), border="replicate")
    return _robust_std(rgb_to_lab(photo[y0:y1, x0:x1][ring]) - rgb_to_lab(up[ring]))


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
    got = _in_photo(where, m, photo.shape, 0.5)
    if got is None:
        return None
    (x0, y0, x1, y1), inside, _ = got
    f = photo[y0:y1, x0:x1].astype(np.float32)
    fine = f - cv2.GaussianBlur(f, (0, 0), SHARPEN_SIGMA, borderType=cv2.BORDER_REFLECT)
    return _robust_std(fine[inside])
