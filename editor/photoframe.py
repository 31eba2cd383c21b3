"""Where the photo, the aligned crop and the editor's view lie relative to each other (Qt-free).

The canvas works in *photo coordinates* (continuous: photo pixel (i, j) covers [i, i+1) × [j, j+1)).
The label map the user paints is the aligned crop's (the model's frame); tools are handed crop
coordinates (same convention). The view layers that follow the edit (the result, the mask overlay)
are held at the engine's ``view_scale`` over the crop's footprint only: ``scale`` view px per photo px,
the footprint's box in view pixels is ``box``.

:class:`PhotoOverlay` builds the mask overlay in that frame, class by class through
``engine.maskops.warp_labels`` (smooth coverage, never pixel blocks), and recomputes only the box a
changed mask touches, so a brush stroke costs its own footprint, not the whole face's.
"""

from __future__ import annotations

import numpy as np

from engine import maskops
from engine.labels import COLORS, NUM_CLASSES

__all__ = ["PhotoFrame", "PhotoOverlay"]


def _inv(m: np.ndarray) -> np.ndarray:
    a = np.vstack([np.asarray(m, np.float64), [0.0, 0.0, 1.0]])
    return np.linalg.inv(a)[:2]


class PhotoFrame:
    def __init__(self, photo_shape, matrix, crop_size: int, scale: float = 1.0):
        self.height, self.width = int(photo_shape[0]), int(photo_shape[1])
        self.matrix = np.asarray(matrix, np.float64)  # photo -> crop, pixel centres
        self.inverse = _inv(self.matrix)
        self.crop_size = int(crop_size)
        self.scale = float(scale)
        vw, vh = max(1, round(self.width * self.scale)), max(1, round(self.height * self.scale))
        self.view_size = (vw, vh)
        xs, ys = self.crop_corners().T * self.scale
        x0, y0 = int(max(0, np.floor(xs.min()) - 2)), int(max(0, np.floor(ys.min()) - 2))
        x1, y1 = int(min(vw, np.ceil(xs.max()) + 2)), int(min(vh, np.ceil(ys.max()) + 2))
        self.box = (x0, y0, max(x0 + 1, x1), max(y0 + 1, y1))  # footprint in view px

    # --- points (continuous coordinates) ---------------------------------------------------------
    def photo_to_crop(self, x: float, y: float) -> tuple[float, float]:
        m = self.matrix
        px, py = x - 0.5, y - 0.5
        return (m[0, 0] * px + m[0, 1] * py + m[0, 2] + 0.5, m[1, 0] * px + m[1, 1] * py + m[1, 2] + 0.5)

    def crop_to_photo(self, x: float, y: float) -> tuple[float, float]:
        m = self.inverse
        cx, cy = x - 0.5, y - 0.5
        return (m[0, 0] * cx + m[0, 1] * cy + m[0, 2] + 0.5, m[1, 0] * cx + m[1, 1] * cy + m[1, 2] + 0.5)

    def crop_to_photo_affine(self) -> np.ndarray:
        """2×3 affine of continuous crop coordinates -> continuous photo coordinates."""
        a = self.inverse.copy()
        a[:, 2] = a[:, 2] + 0.5 - 0.5 * (a[:, 0] + a[:, 1])
        return a

    def crop_corners(self) -> np.ndarray:
        """The crop square's corners in photo coordinates (4×2: top-left, top-right, bottom-right,
        bottom-left)."""
        s = self.crop_size
        return np.array([self.crop_to_photo(x, y) for x, y in ((0, 0), (s, 0), (s, s), (0, s))])

    @property
    def crop_px(self) -> float:
        """Photo pixels per crop pixel."""
        return float(np.sqrt(abs(np.linalg.det(self.inverse[:, :2]))))

    def contains_photo(self, x: float, y: float) -> bool:
        return 0 <= x < self.width and 0 <= y < self.height

    def crop_to_box(self) -> np.ndarray:
        """2×3 affine of crop pixel centres -> the view box's pixel centres."""
        s, (x0, y0, _, _) = self.scale, self.box
        a = self.inverse * s
        a[:, 2] = self.inverse[:, 2] * s + 0.5 * s - 0.5 - (x0, y0)
        return a

    @property
    def box_size(self) -> tuple[int, int]:
        x0, y0, x1, y1 = self.box
        return (x1 - x0, y1 - y0)


class PhotoOverlay:
    """The mask overlay (RGBA over the view box) of a crop-frame label map, updated where it changed."""

    def __init__(self, frame: PhotoFrame):
        self.frame = frame
        w, h = frame.box_size
        self.labels = np.zeros((h, w), np.uint8)
        self.covered = np.zeros((h, w), bool)  # inside the crop
        self.rgba = np.zeros((h, w, 4), np.uint8)
        self._mask: np.ndarray | None = None
        self._lut = self._make_lut(None)

    @staticmethod
    def _make_lut(visible) -> np.ndarray:
        lut = np.zeros((256, 4), np.uint8)
        lut[:NUM_CLASSES, :3] = COLORS
        lut[:NUM_CLASSES, 3] = 255 if visible is None else np.where(np.asarray(visible, bool), 255, 0)
        return lut

    def set_visible(self, visible) -> None:
        self._lut = self._make_lut(visible)
        self._colour((0, 0) + self.frame.box_size)

    def _colour(self, box) -> None:
        x0, y0, x1, y1 = box
        sl = (slice(y0, y1), slice(x0, x1))
        self.rgba[sl] = self._lut[self.labels[sl]]
        self.rgba[sl][~self.covered[sl]] = 0

    def update(self, mask: np.ndarray) -> tuple[int, int, int, int] | None:
        """Bring the overlay to ``mask``; returns the box (view-box pixels) that was recomputed."""
        mask = np.asarray(mask, np.uint8)
        s = mask.shape[0]
        if self._mask is not None and self._mask.shape == mask.shape:
            diff = mask != self._mask
            if not diff.any():
                return None
            ys, xs = np.nonzero(diff)
            # a crop pixel's class reaches ~2 crop px through the coverage smoothing
            cx0, cy0, cx1, cy1 = xs.min() - 3, ys.min() - 3, xs.max() + 4, ys.max() + 4
        else:
            cx0, cy0, cx1, cy1 = -1, -1, s + 1, s + 1
        a = self.frame.crop_to_box()
        pts = np.array([[cx0, cy0, 1], [cx1, cy0, 1], [cx0, cy1, 1], [cx1, cy1, 1]], np.float64) @ a.T
        w, h = self.frame.box_size
        bx0, by0 = int(max(0, np.floor(pts[:, 0].min()))), int(max(0, np.floor(pts[:, 1].min())))
        bx1, by1 = int(min(w, np.ceil(pts[:, 0].max()) + 1)), int(min(h, np.ceil(pts[:, 1].max()) + 1))
        self._mask = mask.copy()
        if bx1 <= bx0 or by1 <= by0:
            return None
        sub = a.copy()
        sub[:, 2] -= (bx0, by0)
        size = (bx1 - bx0, by1 - by0)
        fill = 255
        # only the mask around the box is read (its prefilter's reach past it): a stroke costs its size
        reach = int(np.ceil(3 * maskops.window_sigma(self.frame.scale * self.frame.crop_px))) + 3
        window = (cx0 - reach, cy0 - reach, cx1 + reach, cy1 + reach)
        lab = maskops.warp_labels(mask, sub, size, fill=fill, window=window)
        self.covered[by0:by1, bx0:bx1] = lab != fill
        lab[lab == fill] = 0
        self.labels[by0:by1, bx0:bx1] = lab
        self._colour((bx0, by0, bx1, by1))
        return (bx0, by0, bx1, by1)
