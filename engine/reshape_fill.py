"""The fill of a photographic reshape (:mod:`engine.reshape` plans the move): what no move explains is
synthesised from the same region of the photo, on the generator's low-frequency plan.

4. **Synthesis** where the warped old labels disagree with the new mask (a class appeared where it
   could not have come from within ``max_move``: hair painted over the background, glasses added,
   background where hair was removed): low frequencies from the generator's render, shifted per class
   to the photo's own colour nearby (for the background: the visible background inpainted across the
   hole, so it continues what is seen); high frequencies copied from the same class elsewhere in the
   photo, patch by patch at the offset whose patch lies most inside that class, the patches overlapping
   under sine windows so that none of their edges shows, and kept within ``TEXTURE_CLIP`` of the
   source's own spread. A class the photo has too little of takes texture and colour from the
   reference its style came from, if any, else the generator's own detail. Nothing is taken from crop
   pixels past the photo's edge. Where the generator reproduces the photo (its own corpus), the render
   leads more (``reshape_composite(gen_before=)``).
5. **Blend.** Synthesised pixels meet the moved ones of their own class through a multi-band blend,
   and meet other classes with no blend at all; beyond the deformation's reach every pixel is the photo's.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.composite import _robust_std, lab_to_rgb, laplacian_blend, rgb_to_lab
from engine.detail import box_around
from engine.labels import INDEX
from engine.reshape import ReshapePlan, plan_reshape, warp_image

__all__ = ["reshape_composite"]

#: Texture patches for synthesis: side as a fraction of the crop, and candidate offsets tried per patch.
BLOCK_FRAC = 1.0 / 16.0
OFFSET_TRIES = 48
#: Copied texture is kept within this many robust σ of its source's own (stray strands are cut off).
TEXTURE_CLIP = 3.0
BACKGROUND = INDEX["background"]
#: The coarse band (crop px of a 128² crop, a Gaussian's σ) of moved pixels the render's change of light
#: sets (``reshape_composite(gen_before=)``), and the Lab distances between the moved photo and the
#: render of its old mask up to which that change is trusted fully, and from which not at all.
PLAN_SIGMA = 0.5
PLAN_TRUST = (4.0, 12.0)
#: The same for the whole photo (the median over it): the render must reproduce the photo as a whole,
#: within a small difference, before any of it is trusted (the corpus: 2.6-3.1; real portraits: 8-14).
PHOTO_TRUST = (4.0, 6.0)


def _trust(miss, limits=None):
    """1 where the render of the old mask is within ``limits[0]`` Lab units of the photo, 0 from
    ``limits[1]``, linear between (``PLAN_TRUST`` by default)."""
    lo, hi = PLAN_TRUST if limits is None else limits
    return np.clip((hi - np.asarray(miss, np.float32)) / (hi - lo), 0.0, 1.0)


def _inner_fade(region: np.ndarray, size: int) -> np.ndarray:
    """float32: 1 inside ``region``, fading to 0 over about a pixel (at 128²) towards its edge from within."""
    r = region.astype(np.float32)
    return np.minimum(r, _blur(r, max(0.5, size / 128.0)) * 2.0).clip(0.0, 1.0)


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def _texture(hp: np.ndarray, source: np.ndarray, target: np.ndarray, block: int, seed: int,
             offsets: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """High-pass texture for the ``target`` pixels, copied patch by patch from ``source`` pixels: each
    patch takes the tried offset whose shifted patch lies most inside ``source``. Patches overlap by
    half and are joined under sine windows whose squares sum to 1, so no patch's edge shows as a seam
    and two unrelated textures mixed keep the level of either. ``offsets`` (H×W×2, dx, dy): where
    given, each target pixel's source offset (its strongest patch's) is written there."""
    h, w = target.shape
    out = np.zeros(hp.shape, np.float32)
    rng = np.random.default_rng(seed)
    ys, xs = np.nonzero(source)
    if len(ys) < block * block // 2:
        return out
    n = max(4, block + block % 2)  # an even patch side, stepped by half of it
    step = n // 2
    win = np.sin(np.pi * (np.arange(n) + 0.5) / n).astype(np.float32)
    win2 = win[:, None] * win[None, :]
    best = np.zeros(target.shape, np.float32) if offsets is not None else None
    integral = cv2.integral(source.astype(np.float32))  # patch coverage of the source at any offset, in O(1)
    ty, tx = np.nonzero(target)
    for by in range((ty.min() // step) * step - step, ty.max() + 1, step):
        for bx in range((tx.min() // step) * step - step, tx.max() + 1, step):
            y0, x0 = max(by, 0), max(bx, 0)
            y1, x1 = min(by + n, h), min(bx + n, w)
            if y1 <= y0 or x1 <= x0 or not target[y0:y1, x0:x1].any():
                continue
            bh, bw = y1 - y0, x1 - x0
            pick = rng.integers(0, len(ys), OFFSET_TRIES)
            cy = np.clip(ys[pick] - bh // 2, 0, h - bh)
            cx = np.clip(xs[pick] - bw // 2, 0, w - bw)
            cover = integral[cy + bh, cx + bw] - integral[cy, cx + bw] - integral[cy + bh, cx] + integral[cy, cx]
            j = int(np.argmax(cover))
            wgt = win2[y0 - by : y1 - by, x0 - bx : x1 - bx]
            out[y0:y1, x0:x1] += wgt[..., None] * hp[cy[j] : cy[j] + bh, cx[j] : cx[j] + bw]
            if best is not None:
                stronger = (wgt > best[y0:y1, x0:x1]) & target[y0:y1, x0:x1]
                best[y0:y1, x0:x1][stronger] = wgt[stronger]
                offsets[y0:y1, x0:x1][stronger] = (cx[j] - x0, cy[j] - y0)
    out[~target] = 0.0
    return out


def _push_pull(x: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``x`` (H×W×C float32) kept on ``known`` and continued smoothly everywhere else (each unknown
    pixel from the known ones around it, coarse to fine)."""
    if known.all():
        return x
    if not known.any():
        return np.zeros_like(x)
    h, w = known.shape
    if min(h, w) <= 2:
        return np.where(known[..., None], x, x[known].mean(0)).astype(np.float32)
    sw, sh = (w + 1) // 2, (h + 1) // 2
    m = known.astype(np.float32)
    ws = cv2.resize(m, (sw, sh), interpolation=cv2.INTER_AREA)
    xs = cv2.resize(x * m[..., None], (sw, sh), interpolation=cv2.INTER_AREA)
    xs = np.where(ws[..., None] > 0, xs / np.maximum(ws, 1e-6)[..., None], 0).astype(np.float32)
    coarse = _push_pull(xs, ws > 0)
    up = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR).reshape(x.shape)
    return np.where(known[..., None], x, up).astype(np.float32)


def _texture_source(region: np.ndarray) -> np.ndarray:
    """The interior of a class's visible pixels, where its texture is copied from: its edges carry the
    neighbours' contrast. A thin class (lips) keeps a thinner margin."""
    r = region.astype(np.uint8)
    for k in (5, 3):
        inner = cv2.erode(r, np.ones((k, k), np.uint8)) > 0
        if inner.sum() >= 32:
            return inner
    return region.astype(bool)


def _render_trust(P: np.ndarray, low_before: np.ndarray, source: np.ndarray, target: np.ndarray,
                  sigma: float) -> float:  # fmt: skip
    """How far the render of the old mask explains the photo around ``target`` (on the ``source``
    pixels nearby), by the median difference (:func:`_trust`)."""
    box = box_around(target, int(np.ceil(6 * sigma)) + 1)
    near = source[box]
    if near.sum() < 16:
        return 0.0
    miss = np.sqrt(((_blur(P[box], sigma) - low_before[box]) ** 2).sum(-1))[near]
    return float(_trust(np.median(miss)))


def _synth_base(c: int, target: np.ndarray, photo: np.ndarray, P: np.ndarray, low: np.ndarray,
                source: np.ndarray, low_before: np.ndarray | None = None, trust: float = 0.0) -> np.ndarray:  # fmt: skip
    """Low frequencies (Lab, one row per ``target`` pixel) for synthesised pixels of class ``c``: for
    the background, the visible background inpainted across the hole, so it continues what is seen
    (mixed with the render's plan by ``trust``, :func:`_render_trust`); for any other class the
    render's plan."""
    if c == BACKGROUND and source.sum() > 16:
        inpainted = _inpainted(target, photo, source)
        if trust <= 0 or low_before is None:
            return inpainted
        return trust * _render_base(target, P, low, source, low_before) + (1 - trust) * inpainted
    return _render_base(target, P, low, source, low_before)


def _render_base(target: np.ndarray, P: np.ndarray, low: np.ndarray, source: np.ndarray,
                 low_before: np.ndarray | None) -> np.ndarray:  # fmt: skip
    """The render's low frequencies (``low``) for the ``target`` pixels, shifted to the photo's own
    colour of the class nearby (``source``): by how far the photo there is from the render of the mask
    it shows (``low_before``, else ``low``), so shading the old shape cast there (a shadow under
    removed hair) is not carried into the fill."""
    if not source.any():
        return low[target]
    sigma = max(1.5, min(P.shape[:2]) / 32.0)
    box = box_around(target, int(np.ceil(3 * sigma)) + 1)  # the blur's reach
    m = source[box].astype(np.float32)
    ref = low if low_before is None else low_before
    d = (P - ref)[box]
    num = _blur(d * m[..., None], sigma)
    den = _blur(m, sigma)[..., None]
    mean = ((P - ref)[source]).mean(0)
    t = target[box]
    return low[box][t] + ((num + 0.05 * mean) / (den + 0.05))[t]


def _inpainted(target: np.ndarray, photo: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Lab rows for the ``target`` pixels: the visible background (``source``) inpainted across the
    hole, so it continues what is seen."""
    size = min(photo.shape[:2])
    k = max(1, size // 64)
    # blurred over the visible background only, so the removed region's colour (dark hair) does not
    # bleed into what the inpainting continues
    src_f = source.astype(np.float32)
    sig = max(1.0, size / 64.0)
    den = cv2.GaussianBlur(src_f, (0, 0), sig)[..., None]
    lo = cv2.GaussianBlur(photo.astype(np.float32) * src_f[..., None], (0, 0), sig)
    lo = np.where(den > 1e-3, lo / np.maximum(den, 1e-3), 0).clip(0, 255).astype(np.uint8)
    hole = (~source).astype(np.uint8)
    small = cv2.resize(lo, None, fx=1 / k, fy=1 / k, interpolation=cv2.INTER_AREA)
    small_hole = cv2.resize(hole, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_NEAREST)
    inp = cv2.inpaint(small, small_hole, 3, cv2.INPAINT_TELEA)
    full = cv2.resize(inp, (photo.shape[1], photo.shape[0]), interpolation=cv2.INTER_LINEAR)
    return rgb_to_lab(full[target])


def _reference_texture(ref: tuple[np.ndarray, np.ndarray], target: np.ndarray, low: np.ndarray, block: int,
                       hp_sigma: float, seed: int) -> np.ndarray:  # fmt: skip
    """Lab rows for the ``target`` pixels of a class the photo lacks, from a reference (its crop and
    where it shows the class): the render's low frequencies moved to the reference's colour of the
    class, and its texture copied patch by patch (the reference's crop is aligned as the photo's is)."""
    crop, region = np.asarray(ref[0]), np.asarray(ref[1], bool)
    R = rgb_to_lab(crop)
    source = _texture_source(region)
    tex = _texture(R - _blur(R, hp_sigma), source, target, block, seed)
    shift = R[region].mean(0) - low[target].mean(0)
    return low[target] + shift + tex[target]


def _blend_by_class(moved: np.ndarray, fill: np.ndarray, synth: np.ndarray, new: np.ndarray,
                    levels: int, shown: np.ndarray) -> np.ndarray:  # fmt: skip
    """Synthesised pixels (``fill`` on ``synth``) joined to the moved ones, one class of ``new`` at a
    time: where the fill meets its own class (revealed background beside visible background) a
    multi-band blend hides the join; nothing crosses into another class, so a fill keeps its colour
    right up to the edge of the face or the hair beside it, and a thin synthesised structure is not
    washed out by its neighbours' low frequencies. ``shown``: the pixels that show the photo (the rest,
    the border repeated past its edge, is not blended in)."""
    out = moved.copy()
    reach = 2 ** (levels + 2)  # how far the blend's coarsest band reaches, with room to spare
    for c in np.unique(new[synth]):
        box = box_around(synth & (new == c), reach)
        region = new[box] == c
        own_moved = region & ~synth[box] & shown[box]
        inside = region & synth[box]
        f = _push_pull(fill[box], inside)
        sub = out[box]
        if not own_moved.any():
            sub[inside] = f[inside]
            continue
        # the mask is 0 only on the class's own moved pixels: the blend crosses the join with them, and
        # beside any other class the fill is itself
        b = laplacian_blend(_push_pull(moved[box], own_moved), f, (~own_moved).astype(np.float32), levels)
        sub[region] = b[region]
    return out


def reshape_composite(photo_crop: np.ndarray, gen: np.ndarray, old: np.ndarray, new: np.ndarray, *,
                      plan: ReshapePlan | None = None, moved: np.ndarray | None = None,
                      in_photo: np.ndarray | None = None, texture_from: dict | None = None,
                      gen_before: np.ndarray | None = None, seed: int = 0) -> tuple[np.ndarray, ReshapePlan]:  # fmt: skip
    """The photo's crop reshaped from label map ``old`` to ``new``: moved where a move explains the
    change, synthesised where none does (the generator's render ``gen`` is the plan). uint8 R×R×3.
    ``moved``: ``warp_image(photo_crop, plan.flow)`` when the caller has it already. ``in_photo``: bool
    R×R, the crop pixels that show the photo (``PreparedImage.in_photo``); texture and colour come from
    those only, not from the border repeated past the photo's edge. ``texture_from``: {class: (crop,
    region)}, a reference's aligned crop (uint8 R×R×3) and where it shows that class (bool R×R): a
    class the photo has too little of (under a quarter of the pixels to fill) takes its texture and
    colour from there (hair painted on a shaved head, in the hair style of a reference).
    ``gen_before``: the same generator's render of ``old`` with the same styles. Where it reproduces the
    photo, as a whole (``PHOTO_TRUST``) and locally (``PLAN_TRUST``), the render is the plan for more
    than the synthesised pixels: the moved pixels, and the unmoved ones beside the change, take its
    change of light (their band coarser than ``PLAN_SIGMA`` crop px moves by how much the render of
    ``new`` differs from the render of ``old`` moved the same way: fuller lips catch the light as fuller
    lips do, skin where hair was removed loses its shadow), and the synthesised ones lean on the render
    (:func:`_render_trust`). On a photo the render does not reproduce (a real portrait) none of this
    applies; synthesised pixels still take their colour shift against the render of ``old``."""
    photo = np.asarray(photo_crop)
    g = np.asarray(gen)
    if photo.shape != g.shape or photo.ndim != 3 or photo.dtype != np.uint8 or g.dtype != np.uint8:
        raise ValueError(f"photo crop and render must be equal-size uint8 H×W×3, got {photo.shape}, {g.shape}")
    if gen_before is not None and np.shape(gen_before) != g.shape:
        raise ValueError(f"the render before must be {g.shape}, got {np.shape(gen_before)}")
    plan = plan if plan is not None else plan_reshape(old, new)
    plan.from_reference = np.zeros(plan.synth.shape, bool)
    if not plan.reach.any():
        return photo.copy(), plan
    size = min(photo.shape[:2])
    P = rgb_to_lab(photo)
    W = warp_image(P, plan.flow)
    A = plan.synth
    levels = int(np.clip(round(np.log2(max(size, 2) / 32.0)), 1, 4))
    G = rgb_to_lab(g)
    shown = np.ones(A.shape, bool) if in_photo is None else np.asarray(in_photo, bool)
    light = None  # Lab change of the coarse band for the lit pixels
    low_before = None
    image_trust = 0.0
    if gen_before is not None:
        B = rgb_to_lab(np.asarray(gen_before))
        low_before = _blur(B, max(1.0, size / 128.0))
        sig = max(0.5, PLAN_SIGMA * size / 128.0)
        # the render is trusted only on a photo it reproduces as a whole: a real portrait is not the
        # corpus's kind even where the render happens to come close
        whole = float(np.median(np.sqrt(((_blur(P, 2 * sig) - _blur(B, 2 * sig)) ** 2).sum(-1))[shown]))
        image_trust = float(_trust(whole, PHOTO_TRUST))
    if image_trust > 0:
        moved_before = warp_image(B, plan.flow)
        # and where the render of the old mask explains the moved photo
        miss = np.sqrt((_blur(W - moved_before, 2 * sig) ** 2).sum(-1))
        # lit: the moved pixels, and the unmoved ones near the change (what removed hair shadowed)
        near = cv2.dilate((np.asarray(old) != np.asarray(new)).astype(np.uint8),
                          cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(plan.max_move) + 1,) * 2)) > 0  # fmt: skip
        lit = (plan.reach | near) & ~A
        trust = image_trust * _trust(miss) * _inner_fade(lit, size)
        light = _blur(G - moved_before, sig) * trust[..., None]
        W = W + light
    if A.any():
        hp_sigma = max(1.0, size / 128.0)
        low = _blur(G, hp_sigma)  # the render's low frequencies: the plan for synthesised pixels
        hp_photo = P - _blur(P, hp_sigma)
        visible = (np.asarray(new) == np.asarray(old)) & shown
        fill = W.copy()
        offsets = np.full(A.shape + (2,), np.nan, np.float32)  # where each synthesised pixel's texture is from
        plan.texture = offsets
        block = max(4, int(round(BLOCK_FRAC * size)))
        for c in np.unique(np.asarray(new)[A]):
            target = A & (new == c)
            source = _texture_source(visible & (old == c))
            ref = (texture_from or {}).get(int(c))
            # the photo has too little of the class to texture the new pixels (a beard, for hair painted
            # on a shaved head): the reference's texture, when the class's style is a reference's
            if ref is not None and source.sum() < max(16, 0.25 * target.sum()) and np.count_nonzero(ref[1]) > 16:
                fill[target] = _reference_texture(ref, target, low, block, hp_sigma, seed + int(c))
                plan.from_reference |= target
                continue
            trust = 0.0 if low_before is None else image_trust * _render_trust(P, low_before, source, target, hp_sigma)
            base = _synth_base(c, target, photo, P, low, source, low_before, trust)
            if source.sum() > 16:
                # a block no wider than the class (lips): a wider one would copy the edges beside it
                thick = float(cv2.distanceTransform(source.astype(np.uint8), cv2.DIST_L2, 3).max())
                blk = int(np.clip(2 * thick + 1, 3, block))
                tex = _texture(hp_photo, source, target, blk, seed + int(c), offsets)
                # the class's texture, not what strays into it: a wall beside hair carries wisps of it,
                # far outside the wall's own spread, which copied over the hole would grey it
                lim = TEXTURE_CLIP * np.maximum(_robust_std(hp_photo[source]), 0.5)
                tex = np.clip(tex, -lim, lim)
                if trust > 0:
                    # where the render reproduces the photo, its own detail is the photo's kind: mixed
                    # in by power, so the level stays that of either
                    tex = np.sqrt(1 - trust) * tex + np.sqrt(trust) * (G - low)
            else:
                tex = G - low  # nothing of the class to copy: the generator's own detail
            fill[target] = base + tex[target]
        W = _blend_by_class(W, fill, A, np.asarray(new), levels, shown)
    out = photo.copy()
    if moved is None:
        moved = warp_image(photo, plan.flow)
    out[plan.reach] = moved[plan.reach]  # moved pixels: the photo's, resampled
    if light is not None:
        out[lit] = np.rint(lab_to_rgb(rgb_to_lab(moved[lit]) + light[lit])).clip(0, 255).astype(np.uint8)
    if A.any():
        blend = cv2.dilate(A.astype(np.uint8), np.ones((2 ** (levels + 1) + 1,) * 2, np.uint8)) > 0
        out[blend] = np.rint(lab_to_rgb(W[blend])).clip(0, 255).astype(np.uint8)
    return out, plan
