"""The editor's photo-space view of an edit: the export's own paste (:mod:`engine.photospace`) at the
view's scale, kept between renders and recomposed tile by tile where a new change differs from what it
shows (:class:`ViewCompositor`)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from engine import workmask
from engine.composite import _check_matrix, affine_scale, compose_affine, crop_footprint
from engine.detail import DetailResult
from engine.photograin import fine_level, grain_level
from engine.photospace import _any_channel, _check_result, _paste_roi, _PhotoDetail, _pieces

__all__ = ["MAX_VIEW_PIXELS", "ViewCompositor", "ViewRender", "ViewUpdate", "display_matrix", "view_scale"]

#: Lab difference below which the view keeps what it shows (less than one 8-bit level).
VIEW_TOLERANCE = 0.5
#: The view's tiles: the crop's side is cut into this many.
VIEW_TILES = 8
#: The editor's view holds the crop's footprint in at most this many pixels.
MAX_VIEW_PIXELS = 1_200_000


# ------------------------------------------------------------------------------------------- the view
def view_scale(photo_shape: tuple[int, ...], matrix, size: int, max_pixels: int = MAX_VIEW_PIXELS) -> float:
    """The editor view's scale (view px per photo px, at most 1): the crop's footprint in the photo
    fits in ``max_pixels``."""
    H, W = photo_shape[:2]
    inverse = cv2.invertAffineTransform(_check_matrix(matrix))
    x0, y0, x1, y1 = crop_footprint(inverse, size, (W, H))
    area = max(1, (x1 - x0) * (y1 - y0))
    return float(min(1.0, np.sqrt(max_pixels / area)))


def display_matrix(matrix, scale: float) -> np.ndarray:
    """photo -> crop ``matrix`` as view -> crop, for a view that is the photo resized by ``scale``
    (INTER_AREA's pixel-centre convention)."""
    if scale == 1.0:
        return np.asarray(matrix, np.float64)
    view_to_photo = np.array([[1.0 / scale, 0.0, 0.5 / scale - 0.5], [0.0, 1.0 / scale, 0.5 / scale - 0.5]])
    return compose_affine(np.asarray(matrix, np.float64), view_to_photo)


@dataclass
class ViewUpdate:
    """What changed in the view: the box (x0, y0, x1, y1) in view pixels, its pixels, and which of them
    differ from the photo (``changed``). ``scale`` is view px per photo px."""

    scale: float
    box: tuple[int, int, int, int]
    rgb: np.ndarray
    changed: np.ndarray
    seconds: float
    cache_bytes: int
    recomposed_px: int = 0  # view pixels recomposed (the dirty tiles); the box may hold more
    fresh: bool = False  # the first update of a new view: everything outside ``box`` is the photo


@dataclass
class ViewRender:
    """One render for the editor: the crop-size result and the view's change (None: no change)."""

    crop: np.ndarray
    view: ViewUpdate | None


_FIELDS = ("delta_lab", "support", "new_alpha", "detail_delta", "styled", "flow", "soft_seam", "texture_offset",
           "work_new", "work_styled")


class ViewCompositor:
    """The photo-space view of one image's changes at ``scale``. The crop is cut into tiles of
    1/``VIEW_TILES`` of its side; an update recomposes only the tiles where the change differs visibly
    from what the view shows, and keeps the composite of the crop's footprint between updates."""

    def __init__(self, photo_rgb: np.ndarray, crop_rgb: np.ndarray, matrix, scale: float,
                 work_size: int | None = None):  # fmt: skip
        self.scale = float(scale)
        self.work_size = work_size  # the working grid's side (None: the first result's, or the crop's)
        photo = np.asarray(photo_rgb)
        if self.scale < 1.0:
            h, w = photo.shape[:2]
            size = (max(1, round(w * self.scale)), max(1, round(h * self.scale)))
            photo = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
        self.photo = np.ascontiguousarray(photo)
        self.crop = np.asarray(crop_rgb)
        self.matrix = display_matrix(matrix, self.scale)
        H, W = self.photo.shape[:2]
        self.box = crop_footprint(cv2.invertAffineTransform(self.matrix), self.crop.shape[0], (W, H))
        x0, y0, x1, y1 = self.box
        self.image = self.photo[y0:y1, x0:x1].copy()  # the composite over the footprint
        self.changed = np.zeros(self.image.shape[:2], bool)
        self._last: dict[str, np.ndarray] | None = None
        self._grain: tuple | None = None
        self._fine: tuple | None = None  # (sharpen bytes, fine_level) of the last change
        self._fresh = True  # no update handed out yet: the view is the photo
        self._due: np.ndarray | None = None  # tiles changed but not yet composed in whole
        self._detail = _PhotoDetail(self.photo, 1.0 / affine_scale(self.matrix), self.box)

    @property
    def cache_bytes(self) -> int:
        held = self.photo.nbytes + self.image.nbytes + self.changed.nbytes
        if self._last is not None:
            held += sum(v.nbytes for v in self._last.values())
        if self._detail.hp is not None:  # the photo's fine detail, for synthesised content
            held += self._detail.hp.nbytes
        return int(held)

    def _inputs(self, res: DetailResult) -> dict[str, np.ndarray]:
        size = self.crop.shape[0]
        if self.work_size is None:
            given = [np.shape(v)[0] for v in (res.work_new, res.work_styled) if v is not None]
            self.work_size = given[0] if given else size
        out = {}
        for name in _FIELDS:
            v = getattr(res, name)
            if v is None and name.startswith("work_"):  # the coarse region stands for it
                if name == "work_new":
                    v = np.asarray(res.new_alpha) >= 0.999
                else:
                    v = np.zeros((size, size), bool) if res.styled is None else np.asarray(res.styled, bool)
                k = self.work_size // size
                v = workmask.enlarge(v, k)
            elif v is None:
                shape = {"detail_delta": (size, size, 3), "flow": (size, size, 2),
                         "texture_offset": (size, size, 2)}.get(name, (size, size))  # fmt: skip
                v = np.zeros(shape, np.float32)
            elif name == "texture_offset":
                v = np.nan_to_num(np.asarray(v, np.float32))  # (a real offset is never 0, 0)
            elif name.startswith("work_") and np.shape(v) != (self.work_size,) * 2:
                raise ValueError(f"{name} must be {self.work_size}×{self.work_size}, got {np.shape(v)}")
            out[name] = np.asarray(v)
        return out

    def _differs(self, new: dict[str, np.ndarray]) -> np.ndarray:
        """Crop pixels whose change differs visibly from what the view shows (Lab by more than
        ``VIEW_TOLERANCE``, weights by more than 1 %): a mask stroke moves the generator's output a
        little everywhere, and recomposing the whole face for that would cost the stroke's latency."""
        if self._last is None:  # the view shows the photo: what it shows is "no change"
            self._last = {k: np.zeros_like(v) for k, v in new.items()}
        diff = np.zeros(new["support"].shape, bool)
        for name, v in new.items():  # (what the view shows: tiles not yet composed are kept as due)
            old = self._last[name]
            if v.dtype == np.bool_:
                d = v != old
                if d.shape != diff.shape:  # the working grid: any pixel of a crop pixel's block
                    d = workmask.blocks_any(d, d.shape[0] // diff.shape[0])
            else:
                tol = 0.05 if name == "flow" else VIEW_TOLERANCE if v.ndim == 3 else 0.01
                d = np.abs(v - old) > tol
                d |= (v != 0) != (old != 0)  # reaching a pixel, or leaving it, always counts
            diff |= _any_channel(d) if d.ndim == 3 else d
        return diff

    def _remember(self, new: dict[str, np.ndarray], where: np.ndarray) -> None:
        for name, v in new.items():
            w = where
            if v.shape[0] != where.shape[0]:
                k = v.shape[0] // where.shape[0]
                w = workmask.enlarge(where, k)
            self._last[name][w] = v[w]

    def update(self, res: DetailResult, *, seed: int = 0, visible=None) -> ViewUpdate | None:
        """Bring the view to ``res``; returns the view box that changed (None: nothing visible did).
        ``visible`` (x0, y0, x1, y1 in view pixels): only tiles meeting it are recomposed now, the
        others stay due until a later update sees them."""
        t0 = time.perf_counter()
        _check_result(res, self.crop.shape[0])
        new = self._inputs(res)
        diff = self._differs(new)
        size = self.crop.shape[0]
        t = max(8, size // VIEW_TILES)
        n = -(-size // t)
        if self._due is None:
            self._due = np.zeros((n, n), bool)
        if not diff.any() and not self._due.any():
            return None
        # a crop pixel's change reaches a few crop px: the edge smoothing, the extension, the warp
        dirty = cv2.dilate(diff.astype(np.uint8), None, iterations=max(4, size // 16)) > 0
        alpha_key = new["new_alpha"].tobytes()
        if self._grain is None or self._grain[0] != alpha_key:
            self._grain = (alpha_key, grain_level(self.photo, self.crop, res, self.matrix))
        fine_key = None if res.sharpen is None else np.asarray(res.sharpen).tobytes()
        if self._fine is None or self._fine[0] != fine_key:
            self._fine = (fine_key, fine_level(self.photo, res, self.matrix))
        pieces = _pieces(res, self.crop)
        hit = self._due.copy()  # tiles changed before but not composed yet (off screen)
        tys, txs = np.nonzero(dirty)
        hit[tys // t, txs // t] = True
        H, W = self.photo.shape[:2]
        inverse = cv2.invertAffineTransform(self.matrix)
        full = hit.copy()  # tiles wholly on screen (or every dirty tile when all is visible)
        part = np.zeros_like(hit)  # tiles on the screen's edge: composed in part, left due
        if visible is not None:
            vx0, vy0, vx1, vy1 = visible
            for ty, tx in zip(*np.nonzero(hit), strict=True):
                bx0, by0, bx1, by1 = _tile_box(inverse, (tx * t, ty * t, min(size, (tx + 1) * t),
                                                         min(size, (ty + 1) * t)), (W, H))  # fmt: skip
                if bx1 <= vx0 or bx0 >= vx1 or by1 <= vy0 or by0 >= vy1:
                    full[ty, tx] = False  # not on screen: later
                elif not (bx0 >= vx0 and by0 >= vy0 and bx1 <= vx1 and by1 <= vy1):
                    full[ty, tx], part[ty, tx] = False, True
        runs = []  # (crop box, remembered)
        for grid, keep in ((full, True), (part, False)):
            for ty in range(n):
                tx = 0
                while tx < n:  # runs of tiles along the row, one paste each
                    if not grid[ty, tx]:
                        tx += 1
                        continue
                    end = tx
                    while keep and end + 1 < n and grid[ty, end + 1]:
                        end += 1
                    runs.append(((tx * t, ty * t, min(size, (end + 1) * t), min(size, (ty + 1) * t)), keep))
                    tx = end + 1
        fx0, fy0 = self.box[:2]
        union, work = None, 0
        for (cx0, cy0, cx1, cy1), keep in runs:
            box = _tile_box(inverse, (cx0, cy0, cx1, cy1), (W, H))
            if not keep:
                box = (max(box[0], vx0), max(box[1], vy0), min(box[2], vx1), min(box[3], vy1))
            if box[2] <= box[0] or box[3] <= box[1]:
                continue
            bx0, by0, bx1, by1 = box
            work += (bx1 - bx0) * (by1 - by0)
            sl = (slice(by0 - fy0, by1 - fy0), slice(bx0 - fx0, bx1 - fx0))
            self.image[sl] = self.photo[by0:by1, bx0:bx1]
            self.changed[sl] = False
            got = _paste_roi(self.photo, self.crop, pieces, self.matrix, box, grain_sigma=self._grain[1],
                             fine_sigma=self._fine[1], detail=self._detail, seed=seed)  # fmt: skip
            if got is not None:
                gx0, gy0, gx1, gy1, patch, sel = got
                gsl = (slice(gy0 - fy0, gy1 - fy0), slice(gx0 - fx0, gx1 - fx0))
                self.image[gsl] = patch
                self.changed[gsl] = sel
            union = box if union is None else (min(union[0], bx0), min(union[1], by0),
                                               max(union[2], bx1), max(union[3], by1))  # fmt: skip
        self._due = hit & ~full  # what is not on screen in whole waits until it is
        # the inputs of every hit tile are taken as shown (composed now, or due); elsewhere the view
        # keeps what it showed, so changes under the tolerance cannot add up unseen
        seen = np.kron(hit, np.ones((t, t), bool))[:size, :size]
        self._remember(new, seen)
        if union is None:
            return None
        x0, y0, x1, y1 = union
        sl = (slice(y0 - fy0, y1 - fy0), slice(x0 - fx0, x1 - fx0))
        fresh, self._fresh = self._fresh, False
        return ViewUpdate(self.scale, union, self.image[sl].copy(), self.changed[sl].copy(),
                          time.perf_counter() - t0, self.cache_bytes, work, fresh)  # fmt: skip


def _tile_box(inverse, crop_box, bounds) -> tuple[int, int, int, int]:
    """The target pixels whose centres map into the crop box (x0, y0, x1, y1): tiles side by side
    cover each target pixel exactly once."""
    cx0, cy0, cx1, cy1 = crop_box
    xs, ys = (cx0 - 0.5, cx1 - 0.5), (cy0 - 0.5, cy1 - 0.5)
    pts = np.array([[x, y, 1.0] for x in xs for y in ys]) @ np.asarray(inverse, np.float64).T
    w, h = bounds
    x0 = int(np.clip(np.ceil(pts[:, 0].min() - 0.5), 0, w))
    y0 = int(np.clip(np.ceil(pts[:, 1].min() - 0.5), 0, h))
    x1 = int(np.clip(np.ceil(pts[:, 0].max() - 0.5), 0, w))
    y1 = int(np.clip(np.ceil(pts[:, 1].max() - 0.5), 0, h))
    return x0, y0, x1, y1
