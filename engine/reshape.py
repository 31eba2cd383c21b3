"""Photographic reshape: a painted mask change moves the photo's own pixels, and what no move explains
is filled with texture from the same region of the photo, on the generator's low-frequency plan.

Why: pixels a 128 px generator paints look painted; a jaw pulled in or lips made fuller are the same
skin and lips, moved. So, for a state whose mask differs from the parse (:func:`plan_reshape`):

1. **Correspondences.** For every class whose pixels changed, each pixel on its *new* boundary near the
   change is paired with the nearest pixel of its *old* boundary (a distance transform), if that is at
   most ``max_move`` away (``MOVE_FRAC`` of the crop side). The pair says: the content at the old edge
   now sits at the new edge.
2. **A smooth deformation.** Those displacements are boundary values of a membrane (Laplace)
   interpolation, pinned to zero on every edge the change did not touch and beyond ``1.5 * max_move``
   of the change, and solved coarse to fine by repeated smoothing. Inside and around the change the field varies smoothly: the old region is
   stretched or compressed onto the new one, its texture carried along, with no fold at the edge.
3. **Warp.** The photo (and its old label map) is sampled at ``p + flow(p)``. Where the warped old
   labels agree with the new mask, the pixel is the photo's own, moved.
4. **Synthesis** where they do not (a class appeared where it could not have come from within
   ``max_move``: hair painted over the background, glasses added, background where hair was removed):
   low frequencies from the generator's render, shifted per class to the photo's own colour nearby (for
   the background: the visible background inpainted across the hole, so it continues what is seen);
   high frequencies copied from the same class elsewhere in the photo, block by block at the offset
   whose block lies most inside that class (the generator's own detail where the photo has none).
5. **Blend.** Synthesised pixels meet warped ones through a multi-band blend; beyond the deformation's
   reach every pixel is the photo's.

Everything here works on the aligned crop at any size (128² or 256²); `engine.photospace` applies the
same flow to the full-resolution photo, so moved pixels keep the photo's full detail.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.composite import lab_to_rgb, laplacian_blend, rgb_to_lab
from engine.labels import INDEX

__all__ = ["MOVE_FRAC", "ReshapePlan", "plan_reshape", "reshape_composite", "warp_image"]

#: Largest move (fraction of the crop side) a deformation may explain; farther is synthesised.
MOVE_FRAC = 1.0 / 12.0
#: Membrane iterations per pyramid level, and its smoothing σ (px of that level).
MEMBRANE_ITERS = 40
MEMBRANE_SIGMA = 1.5
#: Smoothing (px) of the edge pairs' displacements along the outline.
PAIR_SIGMA = 1.5
#: Texture blocks for synthesis: side as a fraction of the crop, and candidate offsets tried per block.
BLOCK_FRAC = 1.0 / 16.0
OFFSET_TRIES = 48
BACKGROUND = INDEX["background"]
HAIR = INDEX["hair"]
OUTSIDE = 255  # plan_reshape's label for crop pixels beyond the photo's edge
#: Smoothing (px) of a region before its edge normal is taken.
NORMAL_SIGMA = 1.5
#: Most sharpening (gain of the finest band) a magnifying move gets.
SHARPEN_MAX = 0.6
#: How far (fraction of the crop side) the fill of removed hair reaches past the parse's outline of it.
FRINGE_FRAC = 1.0 / 64.0


@dataclass
class ReshapePlan:
    flow: np.ndarray  # float32 R×R×2 (dx, dy): pixel p shows the photo's crop at p + flow(p)
    synth: np.ndarray  # bool R×R: pixels no move explains, filled by synthesis
    reach: np.ndarray  # bool R×R: pixels the reshape may change (the flow is non-zero, or synth)
    max_move: float
    # float32 R×R: the sharpening a moved pixel gets for the move's magnification (``_sharpen``)
    sharpen: np.ndarray | None = None
    # float32 R×R×2 (dx, dy), set by reshape_composite: where a synthesised pixel's texture was copied
    # from (crop px, relative); NaN elsewhere. The paste copies the photo's finer detail from there too.
    texture: np.ndarray | None = None
    # bool R×R, set by reshape_composite: synthesised pixels whose texture and colour are a reference's
    from_reference: np.ndarray | None = None


def _boundary(region: np.ndarray) -> np.ndarray:
    er = cv2.erode(region.astype(np.uint8), np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)
    return region & (er == 0)


def _label_edges(labels: np.ndarray) -> np.ndarray:
    """Pixels with a 4-neighbour of another class."""
    e = np.zeros(labels.shape, bool)
    e[1:] |= labels[1:] != labels[:-1]
    e[:-1] |= labels[:-1] != labels[1:]
    e[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    e[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    return e


def _nearest(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every pixel, the (y, x) of the nearest ``points`` pixel and the distance to it."""
    src = np.where(points, 0, 255).astype(np.uint8)
    dist, lab = cv2.distanceTransformWithLabels(src, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(points)
    # labels number the zero pixels in raster order, starting at 1
    order = np.zeros(int(lab.max()) + 1, np.int64)
    zero_lab = lab[points]
    order[zero_lab] = np.arange(len(ys))
    idx = order[lab]
    return np.stack([ys[idx], xs[idx]], axis=-1), dist


def _in_sight(pairs: np.ndarray, qy: np.ndarray, qx: np.ndarray, region: np.ndarray, steps: int = 8) -> np.ndarray:
    """Of the ``pairs`` pixels p (bool map), those whose straight segment to (qy, qx)[p] stays inside
    ``region`` (sampled at ``steps`` points)."""
    out = np.zeros(pairs.shape, bool)
    py, px = np.nonzero(pairs)
    if not len(py):
        return out
    ty, tx = qy[py, px], qx[py, px]
    t = np.linspace(0.0, 1.0, steps)[None, :]
    sy = np.rint(py[:, None] + (ty - py)[:, None] * t).astype(np.int64)
    sx = np.rint(px[:, None] + (tx - px)[:, None] * t).astype(np.int64)
    out[py, px] = region[sy, sx].all(axis=1)
    return out


def _neighbour_bits(labels: np.ndarray) -> np.ndarray:
    """Per pixel, a bit set (uint32) of the classes among its 8 neighbours other than its own; the
    label ``OUTSIDE`` is bit 31."""
    h, w = labels.shape
    bit = np.left_shift(np.uint32(1), np.minimum(labels, 31).astype(np.uint32))
    pad = np.pad(labels, 1, mode="edge")
    pbit = np.pad(bit, 1, mode="edge")
    out = np.zeros((h, w), np.uint32)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                other = pad[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] != labels
                out |= np.where(other, pbit[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w], np.uint32(0))
    return out


def _along_normal(region: np.ndarray, dx: np.ndarray, dy: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Of the ``where`` pixels, those whose move (dx, dy) is within 45° of ``region``'s edge normal
    (moves under 1.5 px pass: their direction is noise)."""
    f = cv2.GaussianBlur(region.astype(np.float32), (0, 0), NORMAL_SIGMA)
    ny, nx = np.gradient(f)
    dot = np.abs(dx * nx + dy * ny)
    norm = np.hypot(dx, dy) * np.hypot(nx, ny)
    short = np.hypot(dx, dy) < 1.5
    return where & (short | (dot >= 0.7 * norm))


def _membrane(values: np.ndarray, fixed: np.ndarray, iters: int, sigma: float) -> np.ndarray:
    """Smooth interpolation of ``values`` (H×W×2) held at ``fixed`` pixels, coarse to fine."""
    h, w = fixed.shape
    if min(h, w) > 32:
        sh, sw = (h + 1) // 2, (w + 1) // 2
        wsum = cv2.resize(fixed.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
        vsum = cv2.resize(values * fixed[..., None], (sw, sh), interpolation=cv2.INTER_AREA)
        small_fixed = wsum > 0.2
        small_vals = np.where(small_fixed[..., None], vsum / np.maximum(wsum, 1e-6)[..., None] / 2.0, 0)
        coarse = _membrane(small_vals.astype(np.float32), small_fixed, iters, sigma)
        u = cv2.resize(coarse * 2.0, (w, h), interpolation=cv2.INTER_LINEAR)
        iters = max(8, iters // 3)
    else:
        u = np.zeros((h, w, 2), np.float32)
    held = fixed[..., None]
    for _ in range(iters):
        u = cv2.GaussianBlur(u, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
        u = np.where(held, values, u)
    return u.astype(np.float32)


def plan_reshape(old: np.ndarray, new: np.ndarray, *, max_move: float | None = None,
                 in_photo: np.ndarray | None = None) -> ReshapePlan:  # fmt: skip
    """The deformation and the synthesis mask that take label map ``old`` to ``new`` (see the module
    docstring). Both are uint8 R×R class ids. Classes ``old`` lacks are drawn over the rest: they move
    nothing and are synthesised. ``in_photo`` (bool R×R, default all): the crop pixels that show the
    photo; nothing is moved from the rest (the photo's border repeated past its edge), and what would
    come from there is synthesised."""
    old = np.asarray(old, np.uint8)
    new = np.asarray(new, np.uint8)
    if old.shape != new.shape or old.ndim != 2:
        raise ValueError(f"old and new masks must be equal-size 2-D maps, got {old.shape} and {new.shape}")
    shown = np.ones(old.shape, bool) if in_photo is None else np.asarray(in_photo, bool)
    if shown.shape != old.shape:
        raise ValueError(f"in_photo must be {old.shape}, got {shown.shape}")
    old_seen = np.where(shown, old, OUTSIDE).astype(np.uint8)  # the repeated border: a class of its own
    size = min(old.shape)
    mm = float(max_move if max_move is not None else max(2.0, MOVE_FRAC * size))
    # a class the photo does not have (glasses or a hat drawn on) lies over the others: nothing moves
    # for it, its pixels are synthesised
    overlay = ~np.isin(new, np.unique(old))
    new = np.where(overlay, old, new)
    changed = old != new
    zero = np.zeros(old.shape + (2,), np.float32)
    if not changed.any():
        return ReshapePlan(zero, overlay.copy(), overlay.copy(), mm)
    near_px = int(np.ceil(mm)) + 2
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * near_px + 1,) * 2)
    near = cv2.dilate(changed.astype(np.uint8), k) > 0
    values = np.zeros(old.shape + (2,), np.float32)
    fixed = np.zeros(old.shape, bool)
    yy, xx = np.mgrid[: old.shape[0], : old.shape[1]]
    across_new, across_old = _neighbour_bits(new), _neighbour_bits(old_seen)
    for c in np.unique(np.concatenate([old[changed], new[changed]])):
        was = old_seen == c
        if not was.any():
            continue  # a class new to the photo: nothing to move, it is synthesised
        bn = _boundary(new == c) & near
        if not bn.any():
            continue
        edge = _boundary(was)
        if not edge.any():
            continue  # the class fills the crop: no edge to move
        q, dist = _nearest(edge)
        qy, qx = q[..., 0], q[..., 1]
        ok = bn & (dist <= mm)
        # a pair must see its partner through the class (old or new): new lip above the upper lip is
        # not the lower lip's edge moved across the mouth
        ok &= _in_sight(ok, qy, qx, was | (new == c))
        # and it must be the same edge, moved: a class across it then that is across it now (the lip's
        # edge with the skin, the hair's with the background). Background revealed beside the jaw where
        # hair was is a new edge, not the hair's outer edge moved onto the jaw.
        ok &= (across_new & across_old[qy, qx]) != 0
        # and move along the edge's normal: a partner round a corner (the skin's top edge for the
        # background revealed beside it) is not where this edge came from
        ok &= _along_normal(new == c, (qx - xx).astype(np.float32), (qy - yy).astype(np.float32), ok)
        values[ok, 0] = (qx - xx)[ok]
        values[ok, 1] = (qy - yy)[ok]
        fixed |= ok
    # the nearest-edge pairs of a digital outline jump by whole pixels from one to the next: smooth
    # them along the outline (normalised blur over the paired pixels), so the moved edge is a curve
    if fixed.any():
        m = fixed.astype(np.float32)
        den = cv2.GaussianBlur(m, (0, 0), PAIR_SIGMA)
        num = cv2.GaussianBlur(values * m[..., None], (0, 0), PAIR_SIGMA)
        values[fixed] = (num / np.maximum(den, 1e-6)[..., None])[fixed]
    # pinned: every edge the change did not touch stays where it is (eyes, nose, the hairline's
    # untouched parts), and far from the change nothing moves
    edges = _label_edges(new) & _label_edges(old) & (old == new)
    touched = cv2.dilate(changed.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    still = edges & ~touched & ~fixed
    values[still] = 0.0
    fixed |= still
    far_k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3 * near_px + 1,) * 2)
    far = cv2.dilate(changed.astype(np.uint8), far_k) == 0
    fixed |= far
    values[far] = 0.0
    flow = _membrane(values, fixed, MEMBRANE_ITERS, MEMBRANE_SIGMA) if (fixed & ~far).any() else zero
    flow[far] = 0.0
    warped_old = warp_labels_nearest(old_seen, flow)
    synth = (warped_old != new) & near & shown
    # whole regions, not speckles: a pixel the move explains inside a synthesised patch is synthesised
    # too, a lone unexplained pixel in moved content is left to the move
    k3 = np.ones((3, 3), np.uint8)
    synth = cv2.morphologyEx(synth.astype(np.uint8), cv2.MORPH_OPEN, k3) > 0
    synth = (cv2.morphologyEx(synth.astype(np.uint8), cv2.MORPH_CLOSE, k3) > 0) & near
    synth |= _removed_fringe(synth, old, new, size) & shown
    synth |= overlay
    moving = (np.abs(flow[..., 0]) > 0.05) | (np.abs(flow[..., 1]) > 0.05)
    flow[~moving] = 0.0  # a smooth field: below 0.05 px the step to 0 does not show
    return ReshapePlan(flow, synth, moving | synth, mm, sharpen=_sharpen(flow, moving & ~synth & shown))


def _sharpen(flow: np.ndarray, moved: np.ndarray) -> np.ndarray:
    """float32 R×R: how much to sharpen each ``moved`` pixel (0 elsewhere). A move that magnifies
    the photo (fuller lips: the lip stretched over more pixels) spreads its fine texture over more
    pixels too, and it looks soft; raising the finest band by the magnification minus one gives it
    back its contrast without inventing structure (capped at ``SHARPEN_MAX``)."""
    dfx_dy, dfx_dx = np.gradient(flow[..., 0])
    dfy_dy, dfy_dx = np.gradient(flow[..., 1])
    area = (1.0 + dfx_dx) * (1.0 + dfy_dy) - dfx_dy * dfy_dx  # photo area shown per pixel
    gain = 1.0 / np.sqrt(np.clip(area, 0.25, None)) - 1.0  # linear magnification - 1
    return np.where(moved, np.clip(gain, 0.0, SHARPEN_MAX), 0.0).astype(np.float32)


def _removed_fringe(synth: np.ndarray, old: np.ndarray, new: np.ndarray, size: int) -> np.ndarray:
    """Where hair was removed, the few pixels of what it revealed just outside the parse's outline of it:
    a parse draws hair's outline inside its stray strands, so the fill reaches ``FRINGE_FRAC`` of the
    crop further into the revealed class, or the strands would stay, floating over the new background.
    (Not into the other classes beside it, the cheek or an earring: their edge with the fill would then
    be drawn on the networks' coarser grid, in steps, and an earring would be cut.)"""
    removed = synth & (old == HAIR) & (new != HAIR)
    out = np.zeros(synth.shape, bool)
    if not removed.any():
        return out
    r = max(1, int(round(FRINGE_FRAC * size)))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)
    for d in np.unique(new[removed]):
        grow = cv2.dilate((removed & (new == d)).astype(np.uint8), k) > 0
        out |= grow & (old == d) & (new == d)
    return out


def _maps(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = flow.shape[:2]
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    return xx + flow[..., 0], yy + flow[..., 1]


def warp_image(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``img`` sampled at ``p + flow(p)`` (bicubic: bilinear sampling at fractional offsets would blur
    the texture the move is meant to keep; edges replicated)."""
    mx, my = _maps(flow)
    return cv2.remap(img, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def warp_labels_nearest(labels: np.ndarray, flow: np.ndarray) -> np.ndarray:
    mx, my = _maps(flow)
    return cv2.remap(labels, mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def _texture(hp: np.ndarray, source: np.ndarray, target: np.ndarray, block: int, seed: int,
             offsets: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """High-pass texture for the ``target`` pixels, copied block by block from ``source`` pixels: each
    block takes the tried offset whose shifted block lies most inside ``source``. ``offsets`` (H×W×2,
    dx, dy): where given, each target pixel's source offset is written there."""
    h, w = target.shape
    out = np.zeros(hp.shape, np.float32)
    rng = np.random.default_rng(seed)
    ys, xs = np.nonzero(source)
    if len(ys) < block * block // 2:
        return out
    src_f = source.astype(np.float32)
    integral = cv2.integral(src_f)  # block coverage of the source at any offset, in O(1)
    for by in range(0, h, block):
        for bx in range(0, w, block):
            sub = target[by : by + block, bx : bx + block]
            if not sub.any():
                continue
            bh, bw = sub.shape
            pick = rng.integers(0, len(ys), OFFSET_TRIES)
            cy = np.clip(ys[pick] - bh // 2, 0, h - bh)
            cx = np.clip(xs[pick] - bw // 2, 0, w - bw)
            cover = integral[cy + bh, cx + bw] - integral[cy, cx + bw] - integral[cy + bh, cx] + integral[cy, cx]
            j = int(np.argmax(cover))
            patch = hp[cy[j] : cy[j] + bh, cx[j] : cx[j] + bw]
            out[by : by + bh, bx : bx + bw][sub] = patch[sub]
            if offsets is not None:
                offsets[by : by + bh, bx : bx + bw][sub] = (cx[j] - bx, cy[j] - by)
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


def _around(mask: np.ndarray, margin: int) -> tuple[slice, slice]:
    """The bounding box of ``mask`` grown by ``margin`` px (clipped to the image)."""
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    return (slice(max(0, ys.min() - margin), min(h, ys.max() + margin + 1)),
            slice(max(0, xs.min() - margin), min(w, xs.max() + margin + 1)))  # fmt: skip


def _synth_base(c: int, target: np.ndarray, photo: np.ndarray, P: np.ndarray, low: np.ndarray,
                source: np.ndarray) -> np.ndarray:  # fmt: skip
    """Low frequencies (Lab, one row per ``target`` pixel) for synthesised pixels of class ``c``: for
    the background, the visible background inpainted across the hole, so it continues what is seen;
    for any other class the render's (``low``), shifted to the photo's own colour of the class nearby."""
    size = min(photo.shape[:2])
    if c == BACKGROUND and source.sum() > 16:
        k = max(1, size // 64)
        # blurred over the visible background only, so the removed region's colour (dark hair) does
        # not bleed into what the inpainting continues
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
    if not source.any():
        return low[target]
    sigma = max(1.5, size / 32.0)
    box = _around(target, int(np.ceil(3 * sigma)) + 1)  # the blur's reach
    m = source[box].astype(np.float32)
    d = (P - low)[box]
    num = _blur(d * m[..., None], sigma)
    den = _blur(m, sigma)[..., None]
    mean = ((P - low)[source]).mean(0)
    t = target[box]
    return low[box][t] + ((num + 0.05 * mean) / (den + 0.05))[t]


def _reference_texture(ref: tuple[np.ndarray, np.ndarray], target: np.ndarray, low: np.ndarray, block: int,
                       seed: int) -> np.ndarray:  # fmt: skip
    """Lab rows for the ``target`` pixels of a class the photo lacks, from a reference (its crop and
    where it shows the class): the render's low frequencies moved to the reference's colour of the
    class, and its texture copied block by block (the reference's crop is aligned as the photo's is)."""
    crop, region = np.asarray(ref[0]), np.asarray(ref[1], bool)
    R = rgb_to_lab(crop)
    sigma = max(1.0, min(target.shape) / 128.0)
    source = _texture_source(region)
    tex = _texture(R - _blur(R, sigma), source, target, block, seed)
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
        box = _around(synth & (new == c), reach)
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
                      seed: int = 0) -> tuple[np.ndarray, ReshapePlan]:  # fmt: skip
    """The photo's crop reshaped from label map ``old`` to ``new``: moved where a move explains the
    change, synthesised where none does (the generator's render ``gen`` is the plan). uint8 R×R×3.
    ``moved``: ``warp_image(photo_crop, plan.flow)`` when the caller has it already. ``in_photo``: bool
    R×R, the crop pixels that show the photo (``PreparedImage.in_photo``); texture and colour come from
    those only, not from the border repeated past the photo's edge. ``texture_from``: {class: (crop,
    region)}, a reference's aligned crop (uint8 R×R×3) and where it shows that class (bool R×R): a
    class the photo has too little of (under a quarter of the pixels to fill) takes its texture and
    colour from there (glasses painted on,
    with the style of a reference that wears glasses)."""
    photo = np.asarray(photo_crop)
    g = np.asarray(gen)
    if photo.shape != g.shape or photo.ndim != 3 or photo.dtype != np.uint8 or g.dtype != np.uint8:
        raise ValueError(f"photo crop and render must be equal-size uint8 H×W×3, got {photo.shape}, {g.shape}")
    plan = plan if plan is not None else plan_reshape(old, new)
    if not plan.reach.any():
        return photo.copy(), plan
    size = min(photo.shape[:2])
    P = rgb_to_lab(photo)
    W = warp_image(P, plan.flow)
    A = plan.synth
    levels = int(np.clip(round(np.log2(max(size, 2) / 32.0)), 1, 4))
    if A.any():
        hp_sigma = max(1.0, size / 128.0)
        G = rgb_to_lab(g)
        low = _blur(G, hp_sigma)  # the render's low frequencies: the plan for synthesised pixels
        hp_photo = P - _blur(P, hp_sigma)
        shown = np.ones(A.shape, bool) if in_photo is None else np.asarray(in_photo, bool)
        visible = (np.asarray(new) == np.asarray(old)) & shown
        fill = W.copy()
        offsets = np.full(A.shape + (2,), np.nan, np.float32)  # where each synthesised pixel's texture is from
        plan.texture = offsets
        plan.from_reference = np.zeros(A.shape, bool)
        block = max(4, int(round(BLOCK_FRAC * size)))
        for c in np.unique(np.asarray(new)[A]):
            target = A & (new == c)
            source = _texture_source(visible & (old == c))
            ref = (texture_from or {}).get(int(c))
            # the photo has too little of the class to texture the new pixels (a beard, for hair painted
            # on a shaved head): the reference's texture, when the class's style is a reference's
            if ref is not None and source.sum() < max(16, 0.25 * target.sum()) and np.count_nonzero(ref[1]) > 16:
                fill[target] = _reference_texture(ref, target, low, block, seed + int(c))
                plan.from_reference |= target
                continue
            base = _synth_base(c, target, photo, P, low, source)
            if source.sum() > 16:
                # a block no wider than the class (lips): a wider one would copy the edges beside it
                thick = float(cv2.distanceTransform(source.astype(np.uint8), cv2.DIST_L2, 3).max())
                blk = int(np.clip(2 * thick + 1, 3, block))
                tex = _texture(hp_photo, source, target, blk, seed + int(c), offsets)
            else:
                tex = G - low  # nothing of the class to copy: the generator's own detail
            fill[target] = base + tex[target]
        W = _blend_by_class(W, fill, A, np.asarray(new), levels, shown)
    out = photo.copy()
    if moved is None:
        moved = warp_image(photo, plan.flow)
    out[plan.reach] = moved[plan.reach]  # moved pixels: the photo's, resampled
    if A.any():
        blend = cv2.dilate(A.astype(np.uint8), np.ones((2 ** (levels + 1) + 1,) * 2, np.uint8)) > 0
        out[blend] = np.rint(lab_to_rgb(W[blend])).clip(0, 255).astype(np.uint8)
    return out, plan
