"""Detail-preserving compositing: the edit moves the photo, the photo keeps its own texture.

A generator trained on faces renders a plausible face, not this photo: its skin has no pores, its hair no
strands, its pixels none of the camera's grain. Pasting its pixels over an edited region therefore makes a
photo look painted. Instead, where the mask did not change, we take the model's *change*:

- The state is rendered twice on the same (edited) mask: with the edited styles (``edited``) and with the
  photo's own styles (``unedited``). The generator is deterministic for a fixed noise seed, so their
  difference is the edit alone.
- The difference is taken in CIE Lab (float) and low-passed per region (a normalised Gaussian
  convolution inside each edited class, so one class's change does not bleed into its neighbour's), then
  added to the photo. Colour and shading follow the edit; texture stays the photo's.

**Band split.** The low-pass is a Gaussian with σ = 2.5 px at 256² (``σ = 2.5·R/256``, at least 1 px).
Its response falls to one half at a period of ``5.3·σ`` ≈ 13 px at 256², about 5 % of the crop: pores,
hair strands, lashes, fine wrinkles, sensor noise and compression grain (periods of 1-8 px) are the
photo's; colour, shading and highlights across a cheek or a lock of hair (periods of 15 px and more)
follow the generator. The same fraction of the crop is used at every resolution.

Where the mask changed (reshaped hair, a closed mouth) there is no photo detail to keep, so generated
pixels are used, made to fit:

- **Colour.** Per class, the generated colour is shifted by the local mean of (photo − generated) over
  nearby pixels of the same class that were not reshaped (a normalised Gaussian with σ = R/32, falling
  back to the class-wide mean where the class has no nearby pixels). The generator's colour cast vanishes.
- **Grain.** The photo's fine high-pass level (a robust σ per Lab channel, measured just outside the
  region, per class where possible) is compared with the generated region's; the missing part is added
  as Gaussian noise with a fixed seed (renders stay reproducible, undo stays exact).
- **Seams within a class.** Where a region grew, the photo's pixels along its old outline (its rim, which
  mixed both sides) take the new content too: 1 px at 64², 3 px at 256². Edges against another class
  stay sharp.
- **Border.** A multi-band (Laplacian pyramid) blend with ``round(log2(R/32))`` levels (3 at 256²): low
  frequencies cross the border over ~2^levels px, fine detail switches sharply, so there is neither a
  hard seam nor a smeared halo. Its reach is bounded by a feather of ``max(3, 2^levels)`` px (8 at 256²)
  beyond which every pixel stays the photo's, bit for bit.

:func:`detail_composite` returns the crop and the change itself (Lab delta, support, new-content
weight), which :func:`engine.composite.paste_detail` carries into the full-size photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.composite import _robust_std, apply_lab_delta, feather, laplacian_blend, rgb_to_lab

__all__ = [
    "DetailResult",
    "band_sigma",
    "detail_composite",
    "masked_lowpass",
    "pyramid_levels",
    "reshape_band",
]

#: Band-split σ in px at a 256² crop (see the module docstring); scaled with the crop side.
SIGMA_AT_256 = 2.5
#: Colour-match σ as a fraction of the crop side.
MATCH_SIGMA_FRAC = 1.0 / 32.0
#: Weight of the class-wide mean against the local mean in the colour match.
MATCH_PRIOR = 0.05


def band_sigma(size: int) -> float:
    """σ of the low-pass that splits "follows the edit" from "stays the photo's" for a ``size``² crop."""
    return max(1.0, SIGMA_AT_256 * float(size) / 256.0)


def pyramid_levels(size: int) -> int:
    """Laplacian-pyramid levels of the reshape blend: 1 at 64², 3 at 256², 4 at 512²."""
    return int(np.clip(round(np.log2(max(size, 2) / 32.0)), 1, 5))


def reshape_band(size: int, feather_px: float = 3.0) -> float:
    """How far (px) outside a reshaped region the blend may reach."""
    return float(max(feather_px, 2 ** pyramid_levels(size)))


@dataclass
class DetailResult:
    rgb: np.ndarray  # uint8 [R,R,3]: the composited crop
    delta_lab: np.ndarray  # float32 [R,R,3]: its change from the photo's crop, in Lab (0 where support is 0)
    support: np.ndarray  # float32 [R,R]: > 0 where a pixel may differ from the photo
    new_alpha: np.ndarray  # float32 [R,R]: weight of new content (reshaped regions), 0 elsewhere
    detail_delta: np.ndarray | None = None  # float32 [R,R,3]: the style change alone (part of delta_lab)
    styled: np.ndarray | None = None  # bool [R,R]: pixels whose style changed and class did not
    flow: np.ndarray | None = None  # float32 [R,R,2]: a reshape's move (engine.reshape): p shows p + flow
    base_crop: np.ndarray | None = None  # uint8 [R,R,3]: the photo's crop moved by ``flow`` (what
    #                                      delta_lab is relative to); None: the crop itself
    # the same regions on the working grid (engine.workmask, W = k·R), where the state was painted there:
    work_new: np.ndarray | None = None  # bool [W,W]: new content (refines new_alpha >= 1)
    work_styled: np.ndarray | None = None  # bool [W,W]: refines ``styled``
    # float32 [R,R] in [0, 1]: where new content meets pixels of its own class (new hair beside old hair),
    # which have no edge in the photo to keep: the paste blends softly there instead of cutting
    soft_seam: np.ndarray | None = None
    # float32 [R,R,2] (dx, dy crop px, NaN where none): where each synthesised pixel's texture comes from
    # in the photo (engine.reshape); the paste copies the photo's detail finer than the crop from there
    texture_offset: np.ndarray | None = None
    # float32 [R,R]: gain of the photo's finest band for moved pixels the move magnifies (engine.reshape)
    sharpen: np.ndarray | None = None


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def box_around(mask: np.ndarray, margin: int) -> tuple[slice, slice]:
    """The bounding box of ``mask``'s pixels grown by ``margin`` px (clipped to the image), as slices."""
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    return (
        slice(max(0, ys.min() - margin), min(h, ys.max() + margin + 1)),
        slice(max(0, xs.min() - margin), min(w, xs.max() + margin + 1)),
    )


def masked_lowpass(x: np.ndarray, m: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Normalised convolution pieces: (G*(x·m), G*m). Their ratio is the local mean of ``x`` over ``m``."""
    m = m.astype(np.float32)
    return _blur(x * m[:, :, None], sigma), _blur(m, sigma)


def _lowpass_change(diff, segments, detail, w_d, sigma) -> np.ndarray:
    """The per-segment low-passed ``diff``, weighted by ``w_d`` (1 inside ``detail``, feathered outside)."""
    out = np.zeros_like(diff)
    num_u = np.zeros_like(diff)
    den_u = np.zeros(diff.shape[:2], np.float32)
    margin = int(np.ceil(3 * sigma)) + 4
    for s in np.unique(segments[detail]):
        seg = segments == s
        ys, xs = box_around(seg, margin)
        num, den = masked_lowpass(diff[ys, xs], seg[ys, xs], sigma)
        sel = (detail & seg)[ys, xs]
        out[ys, xs][sel] = num[sel] / np.maximum(den[sel], 1e-4)[:, None]
        num_u[ys, xs] += num
        den_u[ys, xs] += den
    band = (w_d > 0) & ~detail
    out[band] = num_u[band] / np.maximum(den_u[band], 1e-4)[:, None]
    return out * w_d[:, :, None]


def _colour_offsets(base, gen, segments, reshaped, zone, size) -> np.ndarray:
    """Per class, the low-frequency (base − gen) over the class's pixels that were not reshaped,
    evaluated on ``zone``. All classes at once, on f×f blocks (the field is smooth): per-block sums by
    ``bincount``, a Gaussian at 1/f resolution, bilinear back up."""
    sigma = max(1.0, MATCH_SIGMA_FRAC * size)
    f = max(1, int(sigma // 2))  # blocks of about σ/2: the smooth field stays well sampled
    h, w = segments.shape
    hs, ws = max(1, h // f), max(1, w // f)
    classes = np.unique(segments[zone])
    n = len(classes)
    ci = np.minimum(np.searchsorted(classes, segments), n - 1)
    valid = ~reshaped & (classes[ci] == segments)
    block = (
        np.minimum(np.arange(h) // f, hs - 1)[:, None] * ws + np.minimum(np.arange(w) // f, ws - 1)[None, :]
    )
    key = (block * n + ci)[valid]
    cells = hs * ws * n
    den = np.bincount(key, minlength=cells).astype(np.float32).reshape(hs, ws, n) / (f * f)
    d = (base - gen)[valid]
    num = np.stack([np.bincount(key, weights=d[:, c], minlength=cells) for c in range(3)], axis=-1)
    num = num.astype(np.float32).reshape(hs, ws, n, 3) / (f * f)
    counts = den.sum((0, 1)) * (f * f)
    mu = num.sum((0, 1)) / np.maximum(den.sum((0, 1)), 1e-6)[:, None]  # class-wide means
    num = _blur(num.reshape(hs, ws, 3 * n), sigma / f).reshape(hs, ws, n, 3)
    den = _blur(den, sigma / f).reshape(hs, ws, n)
    field = (num + MATCH_PRIOR * mu) / (den[:, :, :, None] + MATCH_PRIOR)
    field[:, :, counts < 8] = 0.0  # a class new to the photo: nothing to match it to
    # block centres sit at (i + 0.5) f - 0.5: resizing hs×ws -> (hs f)×(ws f) puts them there
    up = cv2.resize(field.reshape(hs, ws, 3 * n), (ws * f, hs * f), interpolation=cv2.INTER_LINEAR)
    up = up.reshape(hs * f, ws * f, n, 3)
    ys, xs = np.nonzero(zone)
    off = np.zeros_like(base)
    off[ys, xs] = up[np.minimum(ys, hs * f - 1), np.minimum(xs, ws * f - 1), ci[ys, xs]]
    return off


def _add_grain(top, base, segments, reshaped, size, seed) -> None:
    """In place: add noise to ``top`` inside ``reshaped`` up to the photo's own fine high-pass level."""
    hp_base = base - _blur(base, 1.0)
    hp_top = top - _blur(top, 1.0)
    width = max(2, int(round(size / 32)))
    ring = cv2.dilate(reshaped.astype(np.uint8), np.ones((2 * width + 1,) * 2, np.uint8)) > 0
    ring &= ~reshaped
    # the noise of a pixel depends on its position only, so a new stroke leaves earlier ones' grain as it was
    noise = np.random.default_rng([seed, 8191]).standard_normal(top.shape).astype(np.float32)
    sigma_all = _robust_std(hp_base[ring])
    for c in np.unique(segments[reshaped]):
        region = reshaped & (segments == c)
        near = ring & (segments == c)
        sigma_p = _robust_std(hp_base[near]) if near.sum() >= 32 else sigma_all
        sigma_g = _robust_std(hp_top[region])
        add = np.sqrt(np.maximum(sigma_p**2 - sigma_g**2, 0.0))
        if add.any():
            top[region] += noise[region] * add


def _seamless_extension(reshape: np.ndarray, seg: np.ndarray, size: int) -> np.ndarray:
    """``reshape`` plus the few pixels next to it of the same class (grown hair: the old hair's rim).

    Where a region grew, its old outline is no longer an edge, but the photo still shows one there (the
    parse's edge pixels mix both sides); those pixels take the new content too. Where the new region meets
    another class the edge is real and stays sharp."""
    if not reshape.any():
        return reshape
    width = int(size // 128) + 1
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1,) * 2)
    out = reshape.copy()
    for c in np.unique(seg[reshape]):
        near = cv2.dilate((reshape & (seg == c)).astype(np.uint8), k) > 0
        out |= near & (seg == c)
    return out


def detail_composite(
    photo_crop: np.ndarray,
    edited: np.ndarray,
    unedited: np.ndarray | None = None,
    *,
    detail_region,
    reshape_region,
    segments,
    feather_px: float = 3.0,
    sigma: float | None = None,
    levels: int | None = None,
    seed: int = 0,
    photo_lab: np.ndarray | None = None,
    unedited_lab: np.ndarray | None = None,
) -> DetailResult:
    """Composite an edit over the photo's crop, keeping the photo's detail (see the module docstring).

    ``photo_crop``, ``edited``, ``unedited``: uint8 R×R×3 (``unedited`` is needed when ``detail_region``
    is not empty). ``detail_region``: bool, pixels whose style changed but whose class did not.
    ``reshape_region``: bool, pixels whose class changed. ``segments``: int R×R, the regions the change is
    low-passed within and colour-matched per (the edited mask's classes; give free-form regions their
    own ids). ``photo_lab`` / ``unedited_lab``: their Lab images, when the caller has them cached.
    Only a box around the edited pixels is computed; every pixel outside ``support`` is the photo's.
    """
    photo = np.asarray(photo_crop)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError(f"photo crop must be H×W×3 uint8, got {photo.dtype} {photo.shape}")
    for name, img in (("edited", edited), ("unedited", unedited)):
        if img is not None and (np.shape(img) != photo.shape or np.asarray(img).dtype != np.uint8):
            raise ValueError(
                f"{name} render must be {photo.shape} uint8, got {np.asarray(img).dtype} {np.shape(img)}"
            )
    hw = photo.shape[:2]
    reshape = np.asarray(reshape_region, bool)
    detail = np.asarray(detail_region, bool) & ~reshape
    seg = np.asarray(segments)
    if reshape.shape != hw or detail.shape != hw or seg.shape != hw:
        raise ValueError(
            f"regions and segments must be {hw}, got {reshape.shape}, {detail.shape}, {seg.shape}"
        )
    if detail.any() and unedited is None and unedited_lab is None:
        raise ValueError("detail_composite needs the unedited render where styles changed")
    size = min(hw)
    sigma = band_sigma(size) if sigma is None else float(sigma)
    levels = pyramid_levels(size) if levels is None else int(levels)
    P = rgb_to_lab(photo) if photo_lab is None else photo_lab
    delta = np.zeros(photo.shape, np.float32)
    style = np.zeros(photo.shape, np.float32)
    support = np.zeros(hw, np.float32)
    new_alpha = np.zeros(hw, np.float32)
    if not (detail.any() or reshape.any()):
        return DetailResult(photo.copy(), delta, support, new_alpha, style, detail)
    # the work box: every pixel the result or its filters can reach
    reach = (
        max(reshape_band(size, feather_px) + 2 ** (levels + 1), 3 * MATCH_SIGMA_FRAC * size)
        if reshape.any()
        else 0
    )
    pad = int(np.ceil(max(reach, feather_px + 3 * sigma))) + 4
    ys, xs = box_around(detail | reshape, pad)
    E = rgb_to_lab(np.asarray(edited)[ys, xs])
    if unedited_lab is not None:
        U = unedited_lab[ys, xs]
    else:
        U = rgb_to_lab(np.asarray(unedited)[ys, xs]) if unedited is not None else None
    d, st, sup, alpha = _composite_box(P[ys, xs], E, U, detail[ys, xs], reshape[ys, xs], seg[ys, xs], size,
                                       feather_px, sigma, levels, seed)  # fmt: skip
    delta[ys, xs], style[ys, xs], support[ys, xs], new_alpha[ys, xs] = d, st, sup, alpha
    rgb = apply_lab_delta(photo, P, delta, where=support > 0)
    return DetailResult(rgb, delta, support, new_alpha, style, detail)


def _composite_box(P, E, U, detail, reshape, seg, size, feather_px, sigma, levels, seed):
    """The algorithm on one box: -> (Lab delta, its style part, support, new-content weight)."""
    delta = np.zeros(P.shape, np.float32)
    support = np.zeros(P.shape[:2], np.float32)
    new_alpha = np.zeros(P.shape[:2], np.float32)
    if detail.any():
        w_d = feather(detail, feather_px)
        delta = _lowpass_change(E - U, seg, detail, w_d, sigma)
        support = w_d
    style = delta.copy()
    if reshape.any():
        S = feather(reshape, reshape_band(size, feather_px))
        zone = S > 0
        base = P + delta
        top = E + _colour_offsets(base, E, seg, reshape, zone, size)
        _add_grain(top, base, seg, reshape, size, seed)
        base[reshape] = top[reshape]
        mb = laplacian_blend(base, top, reshape.astype(np.float32), levels)
        base += S[:, :, None] * (mb - base)
        delta = base - P
        support = np.maximum(support, S)
        new_alpha = feather(reshape, 1.0)
    delta[support == 0] = 0.0
    style[support == 0] = 0.0
    return delta, style, support, new_alpha
