"""The working mask: the label map the user paints, finer than the networks' crop.

The networks read an R×R label map of the aligned crop. On a large photo one of its pixels covers a
dozen photo pixels, so a stroke painted at R cannot follow a strand or a lash line. The user therefore
paints a *working mask* of the same crop at W = k·R (k = 1, 2 or 4, chosen from how many photo pixels a
crop pixel covers: :func:`work_scale_for`). Two things are read from it:

- **The networks' mask** (:func:`to_model`): R×R, the parse wherever the working mask still equals the
  working parse, and where it was painted, the painted class of each k×k block (when it covers a
  quarter of it or more) or the block's majority. So an untouched face gives the parse exactly, and a
  stroke changes only the blocks it touched.
- **The edges the paste follows** (:func:`fine_edges`): where a reshape's new content meets the photo is
  refined from the R grid to the working grid, so an edge lands where the stroke was drawn.

Coordinates follow the crop's convention: working pixel (i, j) covers [i, i+1) × [j, j+1) of a crop k
times finer; crop pixel centre c sits at working coordinate k·(c + 0.5) − 0.5.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.maskops import resample_labels

__all__ = ["MAX_WORK_SCALE", "PAINT_SHARE", "blocks_any", "enlarge", "fine_edges", "to_model", "to_work", "work_matrix", "work_scale_for", "work_to_crop"]

#: The finest working mask is this many times the networks' side.
MAX_WORK_SCALE = 4
#: A painted class reaches the networks' block when it covers at least this share of it.
PAINT_SHARE = 0.25


def work_scale_for(photo_px_per_crop_px: float) -> int:
    """k for a crop whose pixel covers ``photo_px_per_crop_px`` photo pixels (side): the largest power
    of two not above it, at most ``MAX_WORK_SCALE`` (1 for photos no finer than the crop)."""
    k = 1
    while 2 * k <= min(float(photo_px_per_crop_px), MAX_WORK_SCALE):
        k *= 2
    return k


def work_matrix(matrix: np.ndarray, k: int) -> np.ndarray:
    """The photo→crop affine (pixel centres) turned into photo→working mask (pixel centres)."""
    a = np.asarray(matrix, np.float64).reshape(2, 3) * k
    a[:, 2] += 0.5 * (k - 1)
    return a


def work_to_crop(k: float) -> np.ndarray:
    """The affine from a working grid ``k`` times the crop's side to the crop (pixel centres)."""
    k = float(k)
    return np.array([[1.0 / k, 0.0, 0.5 / k - 0.5], [0.0, 1.0 / k, 0.5 / k - 0.5]])


def to_work(mask: np.ndarray, size: int) -> np.ndarray:
    """An R×R label map enlarged to the working side (class coverage enlarged smoothly, then the
    class covering most of each pixel: curves, not blocks)."""
    return resample_labels(mask, size)


def blocks_any(x: np.ndarray, k: int) -> np.ndarray:
    """bool W×W -> bool R×R: True where any pixel of the k×k block is True."""
    n, m = x.shape[0] // k, x.shape[1] // k
    return x.reshape(n, k, m, k).any(axis=(1, 3))


def enlarge(x: np.ndarray, k: int) -> np.ndarray:
    """An R-grid map on the working grid: each pixel repeated k×k (blocks, for masks of blocks)."""
    return np.repeat(np.repeat(x, k, axis=0), k, axis=1)


def to_model(work: np.ndarray, parsed_work: np.ndarray, parsed_mask: np.ndarray) -> np.ndarray:
    """The networks' R×R mask of a working mask: the parse where no pixel of a block was painted; where
    one was, the painted class that covers the most of the block if that is at least ``PAINT_SHARE`` of
    it (so a stroke a quarter of a crop pixel wide still reaches the networks; the paste then keeps the
    new content to the painted pixels), else the class covering most of the block. Only the painted
    blocks' box is resampled."""
    R, W = parsed_mask.shape[0], work.shape[0]
    if W == R:
        return np.asarray(work, np.uint8)
    k = W // R
    painted = work != parsed_work
    changed = blocks_any(painted, k)
    out = np.array(parsed_mask, np.uint8, copy=True)
    if not changed.any():
        return out
    ys, xs = np.nonzero(changed)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    sub = np.ascontiguousarray(work[y0 * k : y1 * k, x0 * k : x1 * k])
    size = (x1 - x0, y1 - y0)
    down = resample_labels(sub, size)
    sub_painted = painted[y0 * k : y1 * k, x0 * k : x1 * k]
    best = np.zeros(size[::-1], np.float32)
    for c in np.unique(sub[sub_painted]):
        cover = cv2.resize(((sub == c) & sub_painted).astype(np.float32), size, interpolation=cv2.INTER_AREA)
        take = (cover >= PAINT_SHARE - 1e-6) & (cover > best)
        down[take], best[take] = c, cover[take]
    roi = out[y0:y1, x0:x1]
    take = changed[y0:y1, x0:x1]
    roi[take] = down[take]
    return out


def fine_edges(coarse: np.ndarray, work: np.ndarray, parsed_work: np.ndarray, model: np.ndarray) -> np.ndarray:
    """An R×R region of new content (bool) carried onto the working grid (bool W×W).

    Its edge is the coarse region's, enlarged as a smooth curve, except where the working mask says
    better: a working pixel whose class differs from its block's class on the networks' grid (``model``)
    is new content if it was painted and touches the region, and is not if it was not painted (the
    stroke's edge runs through the block). So an edge the user painted lands where it was painted, and
    an edge the networks' grid made (new hair meeting old hair) stays a smooth curve, never blocks."""
    R, W = coarse.shape[0], work.shape[0]
    k = W // R
    region = np.asarray(coarse, bool)
    model = np.asarray(model, np.uint8)
    smooth = resample_labels(region.astype(np.uint8), W) > 0

    def up(x: np.ndarray) -> np.ndarray:
        return enlarge(x, k)

    off = work != up(model)  # the painted detail the networks' grid could not hold
    painted = work != parsed_work
    k3 = np.ones((3, 3), np.uint8)
    near = up(cv2.dilate(region.astype(np.uint8), k3) > 0)
    # the smooth curve may reach past the region's blocks only into pixels of the new content's own
    # class (new hair beside old hair); beside another class (glasses on skin) the blocks bound it
    keep = up(region)
    for c in np.unique(model[region]):
        keep |= up(cv2.dilate((region & (model == c)).astype(np.uint8), k3) > 0) & (work == c)
    return (smooth & keep & ~(off & ~painted)) | (off & painted & near)
