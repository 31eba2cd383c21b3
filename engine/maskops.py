"""Pure mask-painting operations shared by the editor and the headless session.

Every operation takes a label map (uint8 H×W of ids 0..18), never blends labels, and returns a
``MaskDelta``: the bounding box it touched with the pixels before and after. Deltas are what the undo
history stores (compact: only the box), and applying them is exact in both directions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from engine.labels import NUM_CLASSES


class MaskOpError(ValueError):
    """Bad arguments to a mask operation (label out of range, empty polygon, ...)."""


@dataclass(frozen=True)
class MaskDelta:
    """The pixels a mask operation changed: box (y0, y1, x0, x1) with before/after contents."""

    box: tuple[int, int, int, int]
    before: np.ndarray
    after: np.ndarray

    @property
    def empty(self) -> bool:
        return self.before.size == 0 or bool(np.array_equal(self.before, self.after))

    def apply(self, mask: np.ndarray) -> np.ndarray:
        out = mask.copy()
        y0, y1, x0, x1 = self.box
        out[y0:y1, x0:x1] = self.after
        return out

    def revert(self, mask: np.ndarray) -> np.ndarray:
        out = mask.copy()
        y0, y1, x0, x1 = self.box
        out[y0:y1, x0:x1] = self.before
        return out

    @property
    def nbytes(self) -> int:
        return int(self.before.nbytes + self.after.nbytes)


def _check_label(label: int) -> int:
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
        raise MaskOpError(f"label must be an integer class id, got {label!r}")
    if not 0 <= int(label) < NUM_CLASSES:
        raise MaskOpError(f"label {label} is out of range 0..{NUM_CLASSES - 1}")
    return int(label)


def _delta(mask: np.ndarray, new: np.ndarray) -> MaskDelta:
    diff = mask != new
    if not diff.any():
        return MaskDelta((0, 0, 0, 0), mask[:0, :0].copy(), mask[:0, :0].copy())
    ys, xs = np.nonzero(diff)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    return MaskDelta((y0, y1, x0, x1), mask[y0:y1, x0:x1].copy(), new[y0:y1, x0:x1].copy())


def points_array(points: Sequence[Sequence[float]]) -> np.ndarray:
    """``points`` as a checked float64 N×2 array of (x, y) (finite, within ±10⁶, at least one)."""
    try:
        pts = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise MaskOpError("points must be a list of (x, y) number pairs") from None
    if pts.size % 2 or (pts.ndim == 2 and pts.shape[1] != 2) or pts.ndim > 2:
        raise MaskOpError("points must be a list of (x, y) number pairs")
    pts = pts.reshape(-1, 2)
    if pts.size == 0:
        raise MaskOpError("no points given")
    if not np.isfinite(pts).all():
        raise MaskOpError("points must be finite numbers")
    return np.clip(pts, -1e6, 1e6)


def _points(points: Sequence[Sequence[float]]) -> np.ndarray:
    return np.round(points_array(points)).astype(np.int32)


#: Sub-pixel bits of the brush's rasteriser: a stroke's centre line is placed to 1/16 px.
_SHIFT = 4


def _fixed(points: Sequence[Sequence[float]]) -> np.ndarray:
    return np.round(points_array(points) * (1 << _SHIFT)).astype(np.int32)


def brush(
    mask: np.ndarray,
    points: Sequence[Sequence[float]],
    radius: float,
    label: int,
    *,
    only_label: int | None = None,
) -> MaskDelta:
    """A round hard-edged brush along the polyline ``points`` (x, y). ``only_label`` limits the
    stroke to pixels currently of that class (an eraser that restores, or painting inside a region)."""
    label = _check_label(label)
    if not np.isfinite(radius) or radius <= 0 or radius > 4096:
        raise MaskOpError(f"brush radius must be in (0, 4096], got {radius!r}")
    pts = _fixed(points)
    # rasterised in the stroke's own box only: a stroke costs its size, not the mask's
    h, w = mask.shape
    reach = int(np.ceil(radius)) + 2
    lo = np.floor(pts.min(0) / (1 << _SHIFT)).astype(int) - reach
    hi = np.ceil(pts.max(0) / (1 << _SHIFT)).astype(int) + reach + 1
    x0, y0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
    x1, y1 = min(int(hi[0]), w), min(int(hi[1]), h)
    if x1 <= x0 or y1 <= y0:
        return _delta(mask[:0, :0], mask[:0, :0])  # wholly outside: no change
    pts = pts - np.array([x0, y0], np.int32) * (1 << _SHIFT)
    stamp = np.zeros((y1 - y0, x1 - x0), np.uint8)
    # every pixel whose centre lies within ``radius`` of the stroke's centre line (placed to 1/16 px)
    r = max(int(round(radius * (1 << _SHIFT))), 1 << (_SHIFT - 1))
    if len(pts) > 1:
        cv2.polylines(stamp, [pts], False, 1, thickness=max(1, int(round(2 * radius))), lineType=cv2.LINE_8,
                      shift=_SHIFT)  # fmt: skip
    for p in pts if len(pts) <= 64 else pts[[0, -1]]:
        cv2.circle(stamp, (int(p[0]), int(p[1])), r, 1, thickness=-1, lineType=cv2.LINE_8, shift=_SHIFT)
    d = _paint_where(mask[y0:y1, x0:x1], stamp.astype(bool), label, only_label)
    if d.empty:
        return d
    by0, by1, bx0, bx1 = d.box
    return MaskDelta((by0 + y0, by1 + y0, bx0 + x0, bx1 + x0), d.before, d.after)


def _paint_where(mask: np.ndarray, where: np.ndarray, label: int, only_label: int | None) -> MaskDelta:
    if only_label is not None:
        where &= mask == _check_label(only_label)
    new = mask.copy()
    new[where] = label
    return _delta(mask, new)


def polygon(mask: np.ndarray, points: Sequence[Sequence[float]], label: int) -> MaskDelta:
    """Fill a polygon / lasso outline."""
    label = _check_label(label)
    pts = _fixed(points)
    if len(pts) < 3:
        raise MaskOpError("a polygon needs at least 3 points")
    stamp = np.zeros(mask.shape, np.uint8)
    cv2.fillPoly(stamp, [pts], 1, lineType=cv2.LINE_8, shift=_SHIFT)
    return _paint_where(mask, stamp.astype(bool), label, None)


def rectangle(mask: np.ndarray, x0: float, y0: float, x1: float, y1: float, label: int) -> MaskDelta:
    label = _check_label(label)
    pts = _points([(x0, y0), (x1, y1)])
    (ax, ay), (bx, by) = pts.min(0), pts.max(0)
    h, w = mask.shape
    ax, bx = max(ax, 0), min(bx + 1, w)
    ay, by = max(ay, 0), min(by + 1, h)
    new = mask.copy()
    if ax < bx and ay < by:
        new[ay:by, ax:bx] = label
    return _delta(mask, new)


def flood_fill(mask: np.ndarray, x: float, y: float, label: int) -> MaskDelta:
    """Give the 4-connected area of equal label around (x, y) the new label."""
    label = _check_label(label)
    h, w = mask.shape
    try:
        xf, yf = float(x), float(y)
    except (TypeError, ValueError):
        raise MaskOpError(f"fill point ({x!r}, {y!r}) must be numbers") from None
    if not (np.isfinite(xf) and np.isfinite(yf)):
        raise MaskOpError(f"fill point ({x}, {y}) must be finite")
    xi, yi = int(round(xf)), int(round(yf))
    if not (0 <= xi < w and 0 <= yi < h):
        raise MaskOpError(f"fill point ({x}, {y}) lies outside the {w}×{h} mask")
    ff = np.zeros((h + 2, w + 2), np.uint8)
    work = mask.copy()
    cv2.floodFill(work, ff, (xi, yi), 255, loDiff=0, upDiff=0, flags=4 | (1 << 8))
    region = ff[1:-1, 1:-1].astype(bool)
    new = mask.copy()
    new[region] = label
    return _delta(mask, new)


def replace(mask: np.ndarray, new: np.ndarray) -> MaskDelta:
    """Swap the whole mask for ``new`` (same shape, validated by the caller)."""
    if new.shape != mask.shape:
        raise MaskOpError(f"mask shape {new.shape} differs from {mask.shape}")
    return _delta(mask, new.astype(np.uint8, copy=False))


def resample_labels(mask: np.ndarray, size) -> np.ndarray:
    """A label map resized to ``size``×``size`` (or ``size`` = (width, height)) class by class: each
    class's coverage is resized (area when shrinking, linear when growing) and every pixel takes the
    class that covers most of it, so thin parts keep their shape better than with nearest neighbour."""
    m = np.asarray(mask, np.uint8)
    w, h = (size, size) if np.isscalar(size) else (int(size[0]), int(size[1]))
    if m.shape == (h, w):
        return m.copy()
    interp = cv2.INTER_AREA if w * h < m.size else cv2.INTER_LINEAR
    present = np.flatnonzero(np.bincount(m.ravel(), minlength=NUM_CLASSES))
    best = np.full((h, w), -1.0, np.float32)
    out = np.zeros((h, w), np.uint8)
    for c in present:  # only the classes present: a face holds about a dozen
        cover = cv2.resize((m == c).astype(np.float32), (w, h), interpolation=interp)
        take = cover > best
        out[take], best[take] = c, cover[take]
    return out


def warp_labels(mask: np.ndarray, matrix: np.ndarray, out_wh: tuple[int, int], *, fill: int = 0,
                window: tuple[int, int, int, int] | None = None) -> np.ndarray:  # fmt: skip
    """A label map carried through a 2×3 affine (source -> output pixels) into an ``out_wh`` image,
    class by class: each class's coverage is warped bilinearly (area-shrunk first when the affine
    shrinks, lightly smoothed when it enlarges), and every pixel takes the class covering most of it.
    Edges come out as smooth as the coverage, never as enlarged pixel blocks. Output pixels the source
    does not cover get ``fill``. Only the bounding box of the source's footprint is computed.

    ``window`` (x0, y0, x1, y1): read only that part of the source (an editor redrawing the box a stroke
    touched). Coverage is then prefiltered with a Gaussian instead of the area shrink, which does not
    depend on where the window starts, so windows drawn side by side agree with one drawn whole; output
    pixels within a few source pixels of the window's edge are not reliable and should not be kept."""
    m = np.asarray(mask, np.uint8)
    a = np.asarray(matrix, np.float64).reshape(2, 3).copy()
    if window is not None:
        sx0, sy0, sx1, sy1 = (int(v) for v in window)
        sx0, sy0 = max(sx0, 0), max(sy0, 0)
        sx1, sy1 = min(sx1, m.shape[1]), min(sy1, m.shape[0])
        m = m[sy0:sy1, sx0:sx1]
        a[:, 2] += a[:, :2] @ np.array([sx0, sy0], np.float64)
    W, H = int(out_wh[0]), int(out_wh[1])
    h, w = m.shape
    out = np.full((H, W), fill, np.uint8)
    if h == 0 or w == 0:
        return out
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64) @ a.T
    x0, y0 = np.floor(corners.min(0)).astype(int) - 1
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    if x1 <= x0 or y1 <= y0:
        return out
    a[:, 2] -= (x0, y0)  # into the footprint's box
    scale = float(np.sqrt(abs(np.linalg.det(a[:, :2]))))
    shrink = scale < 0.75 and window is None
    if shrink:  # area-average the coverage down to about the output's scale first
        sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
        a = a @ np.array([[w / sw, 0, 0], [0, h / sh, 0], [0, 0, 1]])
    size = (x1 - x0, y1 - y0)

    def warp(cov: np.ndarray) -> np.ndarray:
        if shrink:
            cov = cv2.resize(cov, (sw, sh), interpolation=cv2.INTER_AREA)
        elif scale < 0.75:  # a window: a shift-invariant prefilter of about the output pixel's size
            cov = cv2.GaussianBlur(cov, (0, 0), window_sigma(scale), borderType=cv2.BORDER_REPLICATE)
        elif scale > 1.5:
            cov = cv2.GaussianBlur(cov, (0, 0), 0.5)
        return cv2.warpAffine(cov, a, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    best = np.zeros((size[1], size[0]), np.float32)
    roi = out[y0:y1, x0:x1]
    for c in np.flatnonzero(np.bincount(m.ravel(), minlength=NUM_CLASSES)):
        cov = warp((m == c).astype(np.float32))
        take = cov > best
        roi[take], best[take] = c, cov[take]
    roi[best < 0.25] = fill  # outside the source (its coverage fades out there)
    return out


def window_sigma(scale: float) -> float:
    """The Gaussian prefilter (source px) of a windowed :func:`warp_labels` shrinking by ``scale``."""
    return 0.45 / max(scale, 1e-3)
