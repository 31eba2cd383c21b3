"""Feathered blending of regenerated regions, and pasting a crop back into the full-size photo.

The rule everywhere: a pixel whose blend weight is exactly 0 is copied from the original, bit for bit.
Only pixels with weight > 0 are ever recomputed.

Besides the plain pixel blends this module holds the primitives of detail-preserving compositing
(:mod:`engine.detail` builds the algorithm from them): an exact CIE Lab conversion, changes applied to a
photo as Lab deltas (a zero delta leaves a pixel bit-exact), a multi-band (Laplacian pyramid) blend, and
the box helpers :mod:`engine.photospace` uses to carry a crop-space change into the full-size photo.

Affine matrices are 2×3 float64 and follow OpenCV's pixel-centre convention (integer coordinates are
pixel centres); ``matrix`` maps photo -> crop, as in :class:`engine.face.Alignment`.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "affine_scale",
    "apply_lab_delta",
    "blend_crop",
    "check_photo_and_crop",
    "compose_affine",
    "crop_footprint",
    "feather",
    "lab_to_rgb",
    "laplacian_blend",
    "paste_back",
    "rgb_to_lab",
    "shrink",
    "warp_affine",
]


# ------------------------------------------------------------------------------------------ geometry
def compose_affine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 2×3 affine "apply ``b``, then ``a``"."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    out = np.empty((2, 3), np.float64)
    out[:, :2] = a[:, :2] @ b[:, :2]
    out[:, 2] = a[:, :2] @ b[:, 2] + a[:, 2]
    return out


def _translate(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])


def affine_scale(matrix: np.ndarray) -> float:
    """Linear scale factor of an affine (sqrt of |det|): > 1 enlarges, < 1 shrinks."""
    m = np.asarray(matrix, np.float64)
    return float(np.sqrt(abs(np.linalg.det(m[:, :2]))))


def _check_matrix(matrix) -> np.ndarray:
    m = np.asarray(matrix, np.float64)
    if m.shape != (2, 3) or not np.isfinite(m).all():
        raise ValueError(f"matrix must be a finite 2×3 affine, got shape {m.shape}")
    if abs(np.linalg.det(m[:, :2])) < 1e-12:
        raise ValueError("matrix is singular (it maps the image to a line or a point)")
    return m


def crop_footprint(inverse: np.ndarray, size: int, bounds: tuple[int, int], pad: int = 2):
    """Integer box (x0, y0, x1, y1) of the photo covered by a ``size``² crop, padded and clipped.

    ``inverse`` maps crop -> photo; ``bounds`` is the photo's (width, height). The box may be empty
    (x1 <= x0) when the crop lies entirely outside the photo.
    """
    e = size - 0.5
    corners = np.array([[-0.5, -0.5, 1.0], [e, -0.5, 1.0], [-0.5, e, 1.0], [e, e, 1.0]])
    pts = corners @ np.asarray(inverse, np.float64).T
    w, h = bounds
    x0 = int(np.clip(np.floor(pts[:, 0].min()) - pad, 0, w))
    y0 = int(np.clip(np.floor(pts[:, 1].min()) - pad, 0, h))
    x1 = int(np.clip(np.ceil(pts[:, 0].max()) + pad + 1, 0, w))
    y1 = int(np.clip(np.ceil(pts[:, 1].max()) + pad + 1, 0, h))
    return x0, y0, x1, y1


def shrink(src: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Reduce ``src`` by the integer factor ``k`` (INTER_AREA's fast path) -> (small, small -> src affine).

    With ``fx = 1/k`` OpenCV maps small pixel centre d to source centre (d + 0.5) * k - 0.5.
    """
    if k <= 1:
        return src, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    small = cv2.resize(src, None, fx=1.0 / k, fy=1.0 / k, interpolation=cv2.INTER_AREA)
    off = 0.5 * k - 0.5
    return small, np.array([[float(k), 0.0, off], [0.0, float(k), off]])


def warp_affine(
    src: np.ndarray,
    matrix: np.ndarray,
    dsize: tuple[int, int],
    *,
    border: str = "replicate",
    interpolation: int = cv2.INTER_LINEAR,
) -> np.ndarray:
    """``cv2.warpAffine`` (matrix maps src -> dst, dsize = (width, height)) that does not alias.

    When the map shrinks by 2× or more, ``src`` is first reduced by an integer factor with INTER_AREA
    (``warpAffine`` has no area filter) and the matrix adjusted, so a large photo gives a clean small
    crop; what remains is a shrink of less than 2×, which bilinear sampling handles.
    """
    m = np.asarray(matrix, np.float64)
    s = affine_scale(m)
    h, w = src.shape[:2]
    if s <= 0.5 and min(h, w) >= 4:
        k = min(int(1.0 / s), max(1, min(h, w) // 2))
        src, small_to_src = shrink(src, k)
        m = compose_affine(m, small_to_src)
    mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    return cv2.warpAffine(
        src, m, (int(dsize[0]), int(dsize[1])), flags=interpolation, borderMode=mode, borderValue=0
    )


# -------------------------------------------------------------------------------------------- weights
def _as_weight(weight, shape: tuple[int, int], what: str) -> np.ndarray:
    """bool / uint8 (0..255) / float (clipped to [0, 1]) H×W -> float32 in [0, 1]."""
    w = np.asarray(weight)
    if w.shape != tuple(shape):
        raise ValueError(f"{what} must be {shape[1]}×{shape[0]} (H×W), got shape {w.shape}")
    if w.dtype == np.bool_:
        return w.astype(np.float32)
    if w.dtype == np.uint8:
        return w.astype(np.float32) / 255.0
    if w.dtype.kind not in "fiu":
        raise ValueError(f"{what} must be a bool, uint8 or float map, got {w.dtype}")
    w = w.astype(np.float32)
    if not np.isfinite(w).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return np.clip(w, 0.0, 1.0)


def feather(region, radius: float) -> np.ndarray:
    """Soft weight for ``region`` (H×W, non-zero = inside): 1 inside, easing to 0 ``radius`` px outside.

    The edge grows outwards, so every pixel of the region keeps full weight; pixels at distance >= radius
    are exactly 0. The falloff is a smoothstep of the Euclidean distance to the region.
    """
    r = np.asarray(region)
    if r.ndim != 2:
        raise ValueError(f"region must be a 2-D H×W map, got shape {r.shape}")
    inside = r.astype(bool)
    if radius <= 0 or not inside.any():
        return inside.astype(np.float32)
    outside = np.ascontiguousarray((~inside).astype(np.uint8))
    dist = cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    t = np.clip(1.0 - dist / np.float32(radius), 0.0, 1.0)
    w = t * t * (3.0 - 2.0 * t)
    w[inside] = 1.0
    return w.astype(np.float32)


def _blend_into(base: np.ndarray, top: np.ndarray, w: np.ndarray) -> None:
    """In place: base = base*(1-w) + top*w where w > 0; base untouched where w == 0."""
    m = w > 0
    if not m.any():
        return
    b = base.astype(np.float32)
    mixed = np.rint(b + (top.astype(np.float32) - b) * w[:, :, None]).clip(0, 255).astype(np.uint8)
    np.copyto(base, mixed, where=m[:, :, None])  # dense maths, but only w > 0 is written


def blend_crop(original_crop: np.ndarray, generated_crop: np.ndarray, weight) -> np.ndarray:
    """Crop-space blend: ``original*(1-w) + generated*w``; bit-exact original where w == 0."""
    o = np.asarray(original_crop)
    g = np.asarray(generated_crop)
    if o.shape != g.shape or o.ndim != 3 or o.shape[2] != 3 or o.dtype != np.uint8 or g.dtype != np.uint8:
        raise ValueError(
            f"original and generated crops must be equal-size H×W×3 uint8, got {o.dtype} {o.shape} "
            f"and {g.dtype} {g.shape}"
        )
    w = _as_weight(weight, o.shape[:2], "weight")
    out = o.copy()
    _blend_into(out, g, w)
    return out


# ------------------------------------------------------------------------------------------ paste back
def check_photo_and_crop(photo_rgb, crop_rgb, what: str = "crop") -> tuple[np.ndarray, np.ndarray]:
    """(photo, crop) as arrays, or a ValueError: the photo must be H×W×3 uint8, the crop S×S×3 uint8."""
    photo = np.asarray(photo_rgb)
    crop = np.asarray(crop_rgb)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError(f"photo must be H×W×3 uint8, got {photo.dtype} {photo.shape}")
    if crop.ndim != 3 or crop.shape[2] != 3 or crop.dtype != np.uint8 or crop.shape[0] != crop.shape[1]:
        raise ValueError(f"{what} must be S×S×3 uint8, got {crop.dtype} {crop.shape}")
    return photo, crop


def paste_back(photo_rgb: np.ndarray, crop_result: np.ndarray, weight_crop, matrix) -> np.ndarray:
    """Put an edited crop back into the full-size photo.

    ``crop_result`` (uint8 S×S×3) and ``weight_crop`` (S×S in [0, 1], crop space) are warped into the
    photo through the inverse of ``matrix`` (photo -> crop), only within the bounding box of the crop's
    footprint, and blended ``photo*(1-w) + warped*w``. Every pixel whose warped weight is exactly 0 is
    the original, bit for bit. Returns a new array; the input photo is not modified.
    """
    photo, crop = check_photo_and_crop(photo_rgb, crop_result, "crop result")
    size = crop.shape[0]
    w_crop = _as_weight(weight_crop, crop.shape[:2], "weight")
    m = _check_matrix(matrix)
    inverse = cv2.invertAffineTransform(m)
    out = photo.copy()
    H, W = photo.shape[:2]
    x0, y0, x1, y1 = crop_footprint(inverse, size, (W, H))
    if x1 <= x0 or y1 <= y0 or not (w_crop > 0).any():
        return out
    to_roi = compose_affine(_translate(-x0, -y0), inverse)
    dsize = (x1 - x0, y1 - y0)
    w = warp_affine(w_crop, to_roi, dsize, border="constant")
    if not (w > 0).any():
        return out
    top = warp_affine(np.ascontiguousarray(crop), to_roi, dsize, border="replicate")
    roi = out[y0:y1, x0:x1]
    _blend_into(roi, top, np.clip(w, 0.0, 1.0))
    return out


# ------------------------------------------------------------------------------------- CIE Lab (D65)
# sRGB <-> CIE L*a*b* computed exactly (float32 numpy, no lookup splines): OpenCV's float conversion
# is approximate (round trips drift by ~1 level), too coarse for deltas that must vanish when zero.
_RGB2XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
_WHITE = np.array([0.95047, 1.0, 1.08883])
_RGB2XYZN = (_RGB2XYZ / _WHITE[:, None]).T.astype(np.float32)  # row vectors: xyz/white = rgb @ this
_XYZN2RGB = np.linalg.inv(_RGB2XYZ / _WHITE[:, None]).T.astype(np.float32)
_DELTA = 6.0 / 29.0


def _linearise(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


_SRGB_LUT = _linearise(np.arange(256, dtype=np.float64) / 255.0)


def rgb_to_lab(rgb) -> np.ndarray:
    """sRGB (uint8, or float on the 0..255 scale), shape (..., 3) -> float32 L*a*b* (L in 0..100)."""
    a = np.asarray(rgb)
    if a.shape[-1:] != (3,):
        raise ValueError(f"rgb_to_lab needs (..., 3) RGB, got shape {a.shape}")
    lin = _SRGB_LUT[a] if a.dtype == np.uint8 else _linearise(np.clip(a.astype(np.float32) / 255.0, 0, 1))
    xyz = lin @ _RGB2XYZN
    f = np.where(xyz > _DELTA**3, np.cbrt(xyz), xyz / (3 * _DELTA**2) + 4.0 / 29.0)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab.astype(np.float32, copy=False)


def lab_to_rgb(lab) -> np.ndarray:
    """float L*a*b* (..., 3) -> float32 sRGB on the 0..255 scale (clipped to the gamut, not rounded)."""
    lab = np.asarray(lab, np.float32)
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
    xyz = np.where(f > _DELTA, f * f * f, 3 * _DELTA**2 * (f - 4.0 / 29.0))
    lin = np.clip(xyz @ _XYZN2RGB, 0.0, 1.0)
    srgb = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)
    return (srgb * 255.0).astype(np.float32)


def apply_lab_delta(rgb: np.ndarray, lab: np.ndarray, delta: np.ndarray, where=None) -> np.ndarray:
    """``rgb`` (uint8 H×W×3, ``lab`` = rgb_to_lab(rgb)) moved by ``delta`` in Lab -> uint8.

    Only pixels in ``where`` (bool, default: all) with a non-zero delta are recomputed; every other
    pixel is copied bit-exact. (The Lab round trip itself is accurate to ~0.003 levels.)
    """
    out = np.array(rgb, np.uint8, copy=True)
    sel = np.any(delta != 0, axis=-1)
    if where is not None:
        sel &= np.asarray(where, bool)
    if sel.any():
        out[sel] = np.rint(lab_to_rgb(lab[sel] + delta[sel])).clip(0, 255).astype(np.uint8)
    return out


# ---------------------------------------------------------------------------------- multi-band blend
def laplacian_blend(base: np.ndarray, top: np.ndarray, mask: np.ndarray, levels: int) -> np.ndarray:
    """Multi-band blend (Burt & Adelson): each Laplacian band of ``top``/``base`` is mixed with the
    mask blurred to that band's scale, so low frequencies cross the border over a wide band and fine
    detail switches sharply. float32 H×W×C images, mask H×W in [0, 1] (1 = ``top``)."""
    base = np.asarray(base, np.float32)
    top = np.asarray(top, np.float32)
    m = np.asarray(mask, np.float32)
    if base.shape != top.shape or m.shape != base.shape[:2]:
        raise ValueError(f"laplacian_blend: shapes differ: {base.shape}, {top.shape}, mask {m.shape}")
    levels = int(max(0, min(levels, int(np.log2(max(1, min(m.shape)))) - 1)))
    gb, gt, gm = [base], [top], [m]
    for _ in range(levels):
        gb.append(cv2.pyrDown(gb[-1]))
        gt.append(cv2.pyrDown(gt[-1]))
        gm.append(cv2.pyrDown(gm[-1]))

    def mix(k, b, t):
        w = gm[k] if b.ndim == 2 else gm[k][:, :, None]
        return b + (t - b) * w

    out = mix(levels, gb[levels], gt[levels])
    for k in range(levels - 1, -1, -1):
        size = (gb[k].shape[1], gb[k].shape[0])
        lb = gb[k] - cv2.pyrUp(gb[k + 1], dstsize=size)
        lt = gt[k] - cv2.pyrUp(gt[k + 1], dstsize=size)
        out = cv2.pyrUp(out, dstsize=size) + mix(k, lb, lt)
    return out.reshape(base.shape)


# ------------------------------------------------------------------------------- detail paste-back
def _box_footprint(inverse, box, bounds, pad: int = 2):
    """Photo box covered by the crop box (x0, y0, x1, y1) (exclusive ends) under ``inverse``."""
    bx0, by0, bx1, by1 = box
    xs, ys = (bx0 - 1.5, bx1 + 0.5), (by0 - 1.5, by1 + 0.5)
    pts = np.array([[x, y, 1.0] for x in xs for y in ys]) @ np.asarray(inverse, np.float64).T
    w, h = bounds
    x0 = int(np.clip(np.floor(pts[:, 0].min()) - pad, 0, w))
    y0 = int(np.clip(np.floor(pts[:, 1].min()) - pad, 0, h))
    x1 = int(np.clip(np.ceil(pts[:, 0].max()) + pad + 1, 0, w))
    y1 = int(np.clip(np.ceil(pts[:, 1].max()) + pad + 1, 0, h))
    return x0, y0, x1, y1


def _robust_std(x: np.ndarray) -> np.ndarray:
    """Per-channel noise level of N×C samples (median absolute deviation, scaled to a Gaussian σ)."""
    if len(x) < 16:
        return np.zeros(x.shape[1], np.float32)
    if len(x) > 8192:
        x = x[:: len(x) // 8192]  # a fixed subsample: a level estimate needs no more
    return (1.4826 * np.median(np.abs(x - np.median(x, axis=0)), axis=0)).astype(np.float32)
