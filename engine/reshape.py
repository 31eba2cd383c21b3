"""Photographic reshape: a painted mask change moves the photo's own pixels, and what no move explains
is filled with texture from the same region of the photo, on the generator's low-frequency plan.

Why: pixels a 128 px generator paints look painted; a jaw pulled in or lips made fuller are the same
skin and lips, moved. So, for a state whose mask differs from the parse (:func:`plan_reshape`):

1. **Correspondences.** For every class whose pixels changed, each pixel on its *new* boundary near the
   change is paired with the nearest pixel of its *old* boundary (a distance transform), if that is at
   most ``max_move`` away (``MOVE_FRAC`` of the crop side), in sight through the class, the same edge
   (a class lies across it both before and after) and along its normal. The pair says: the content at
   the old edge now sits at the new edge.
2. **A smooth deformation.** Those displacements are boundary values of a membrane (Laplace)
   interpolation, pinned to zero on every edge the change did not touch, on every class it does not
   involve (an earring beside hair made longer) and beyond ``1.5 * max_move``
   of the change, and solved coarse to fine by repeated smoothing. Inside and around the change the field varies smoothly: the old region is
   stretched or compressed onto the new one, its texture carried along, with no fold at the edge.
3. **Warp.** The photo (and its old label map) is sampled at ``p + flow(p)``. Where the warped old
   labels agree with the new mask, the pixel is the photo's own, moved.
4. **Synthesis** where they do not (a class appeared where it could not have come from within
   ``max_move``: hair painted over the background, glasses added, background where hair was removed),
   and 5. **blend**: :mod:`engine.reshape_fill` (:func:`engine.reshape_fill.reshape_composite`).

Everything here works on the aligned crop at any size (128² or 256²); `engine.photospace` applies the
same flow to the full-resolution photo, so moved pixels keep the photo's full detail.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.labels import INDEX

__all__ = ["MOVE_FRAC", "ReshapePlan", "plan_reshape", "warp_image", "warp_labels_nearest"]

#: Largest move (fraction of the crop side) a deformation may explain; farther is synthesised.
MOVE_FRAC = 1.0 / 12.0
#: Membrane iterations per pyramid level, and its smoothing σ (px of that level).
MEMBRANE_ITERS = 40
MEMBRANE_SIGMA = 1.5
#: Smoothing (px) of the edge pairs' displacements along the outline.
PAIR_SIGMA = 1.5
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
    # and a class the change did not touch at all (an earring beside hair made longer, the eyes when
    # the lips grow) stays where it is, whole: the move beside it does not drag it along
    involved = np.unique(np.concatenate([old[changed], new[changed]]))
    still |= ~np.isin(old, involved) & (old == new) & ~fixed
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
