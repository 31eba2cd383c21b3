"""Parse refinement against the photo: snap label edges to image edges, and trace hair by its colour.

Our parser is trained on synthetic faces; on photos its edges are soft and sit a few pixels off, and hair
(fine, irregular, the same colour as shadows) is where it misses most. Two cheap steps, both on the crop:

1. **Guided filter** (He, Sun & Tang) on the per-class probabilities with the colour crop as the guide,
   built from OpenCV box filters (no ximgproc). Each class's probability becomes, per window, a linear
   function of the pixel colours, so a soft or shifted edge moves onto the image edge it belongs to.
   The "fast" variant computes the coefficients at half resolution from 256² crops up. Only the outlines
   of the large regions move (background, skin, hair, hat, neck, clothes): facial features are small and
   their borders with the skin faint, so smoothing would erode them; they keep the parser's outline and
   are never overwritten. Labels may change only within a band around the parse's own edges: regions are
   never created far from where the parser put them, and a border the image shows no edge for keeps its
   parsed position (the filter then reduces to a symmetric blur).
2. **Hair by GrabCut.** ``cv2.grabCut`` seeded from the parse: definite hair = the hair eroded, probable
   hair = the rest of the hair, probable not-hair = a band around it, definite not-hair = everything
   further away and every facial feature (eyes, brows, nose, mouth, lips, glasses, ears, jewellery, hat),
   which never becomes hair and does not enter the colour model. Hair can only grow over background and
   skin (neck and clothes are often confused with long hair by the parser itself); pixels that stop being
   hair take the label of the nearest background or skin pixel.

Radii scale with the crop: 1 px per 64 px of side (4 px at 256²). The user can always repaint.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine import labels

__all__ = ["RefineOptions", "guided_filter", "refine_hair", "refine_parse", "refine_probabilities"]

HAIR = labels.INDEX["hair"]
#: Classes hair may grow over (everything else is a feature that never turns into hair).
HAIR_MAY_TAKE = tuple(labels.INDEX[n] for n in ("background", "skin"))
#: Classes whose outlines the guided filter moves: the large regions whose borders are colour edges.
#: Facial features (eyes, brows, nose, mouth, lips, ears, glasses, jewellery) are small, and their
#: borders with the skin are often faint: smoothing would erode them, so they keep the parser's outline.
OUTLINE_CLASSES = tuple(labels.INDEX[n] for n in ("background", "skin", "hair", "hat", "neck", "cloth"))


@dataclass(frozen=True)
class RefineOptions:
    guided: bool = True  # guided-filter the probabilities against the crop
    hair: bool = True  # GrabCut the hair
    radius: int | None = None  # guided-filter radius in px; None: 1 px per 64 px of crop side
    eps: float = 4e-3  # guided-filter regulariser (guide in [0, 1]): larger = smoother, fewer edges
    subsample: int | None = None  # fast guided filter factor; None: 2 from 256² up, else 1
    classes: tuple[int, ...] = OUTLINE_CLASSES  # the classes whose outlines may move
    hair_iters: int = 1  # GrabCut iterations
    hair_sure: float = 0.6  # parsed hair at least this probable is never removed by GrabCut

    def radius_for(self, size: int) -> int:
        return int(self.radius) if self.radius is not None else max(1, round(size / 64))


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT).reshape(x.shape)


def guided_filter(
    guide: np.ndarray, src: np.ndarray, radius: int, eps: float, subsample: int = 1
) -> np.ndarray:
    """Colour guided filter: ``guide`` float H×W×3 in [0, 1], ``src`` float H×W×K -> float32 H×W×K."""
    guide_full = np.asarray(guide, np.float32)
    p = np.asarray(src, np.float32)
    if guide_full.ndim != 3 or guide_full.shape[2] != 3 or p.ndim != 3 or p.shape[:2] != guide_full.shape[:2]:
        raise ValueError(
            f"guided_filter needs an H×W×3 guide and H×W×K source, got {guide_full.shape}, {p.shape}"
        )
    h, w = p.shape[:2]
    s = max(1, int(subsample))
    if s > 1:
        small = (max(1, w // s), max(1, h // s))
        g = cv2.resize(guide_full, small, interpolation=cv2.INTER_AREA)
        p = cv2.resize(p, small, interpolation=cv2.INTER_AREA).reshape(small[1], small[0], -1)
        r = max(1, round(radius / s))
    else:
        g, r = guide_full, max(1, int(radius))
    mg = _box(g, r)
    # covariance of the guide per window (symmetric 3×3), regularised
    c = {}
    for i, j in ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)):
        c[i, j] = _box(g[:, :, i] * g[:, :, j], r) - mg[:, :, i] * mg[:, :, j] + (eps if i == j else 0.0)
    # inverse by the adjugate
    a00, a01, a02, a11, a12, a22 = c[0, 0], c[0, 1], c[0, 2], c[1, 1], c[1, 2], c[2, 2]
    i00, i01, i02 = a11 * a22 - a12 * a12, a02 * a12 - a01 * a22, a01 * a12 - a02 * a11
    i11, i12, i22 = a00 * a22 - a02 * a02, a01 * a02 - a00 * a12, a00 * a11 - a01 * a01
    det = a00 * i00 + a01 * i01 + a02 * i02
    inv = [[i00, i01, i02], [i01, i11, i12], [i02, i12, i22]]
    inv = [[x / det for x in row] for row in inv]
    mp = _box(p, r)
    cov = [_box(g[:, :, k : k + 1] * p, r) - mg[:, :, k : k + 1] * mp for k in range(3)]
    a = [sum(inv[k][j][:, :, None] * cov[j] for j in range(3)) for k in range(3)]
    b = mp - sum(a[k] * mg[:, :, k : k + 1] for k in range(3))
    ma = [_box(x, r) for x in a]
    mb = _box(b, r)
    if s > 1:

        def up(x):
            return cv2.resize(x, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, -1)

        ma, mb = [up(x) for x in ma], up(mb)
    return (sum(ma[k] * guide_full[:, :, k : k + 1] for k in range(3)) + mb).astype(np.float32)


def _edge_band(lab: np.ndarray, width: int) -> np.ndarray:
    """Pixels within ``width`` px of a label edge."""
    k = np.ones((3, 3), np.uint8)
    edge = cv2.dilate(lab, k) != cv2.erode(lab, k)
    return cv2.dilate(edge.astype(np.uint8), np.ones((2 * width + 1,) * 2, np.uint8)) > 0


def _check(crop_rgb, probs) -> tuple[np.ndarray, np.ndarray]:
    crop = np.asarray(crop_rgb)
    p = np.asarray(probs, np.float32)
    if crop.ndim != 3 or crop.shape[2] != 3 or crop.dtype != np.uint8:
        raise ValueError(f"refinement needs an H×W×3 uint8 crop, got {crop.dtype} {crop.shape}")
    if p.shape != (labels.NUM_CLASSES, *crop.shape[:2]):
        raise ValueError(f"probabilities must be [{labels.NUM_CLASSES}, H, W] for the crop, got {p.shape}")
    return crop, p


def refine_probabilities(
    crop_rgb: np.ndarray, probs: np.ndarray, options: RefineOptions | None = None
) -> np.ndarray:
    """Guided-filter the class probabilities ([19,H,W]) against the crop -> uint8 labels [H,W]."""
    opts = options or RefineOptions()
    crop, p = _check(crop_rgb, probs)
    base = p.argmax(0).astype(np.uint8)
    size = min(crop.shape[:2])
    r = opts.radius_for(size)
    movable = np.isin(base, opts.classes)
    cls = np.array(sorted(set(opts.classes) & set(np.unique(base[movable]).tolist())), np.intp)
    if len(cls) < 2:
        return base
    sub = opts.subsample if opts.subsample is not None else (2 if size >= 256 else 1)
    q = guided_filter(crop.astype(np.float32) / 255.0, np.ascontiguousarray(p[cls].transpose(1, 2, 0)), r,
                      opts.eps, sub)  # fmt: skip
    refined = cls[q.argmax(2)].astype(np.uint8)
    change = movable & _edge_band(base, 2 * r)  # other classes keep their pixels and are never taken
    return np.where(change, refined, base).astype(np.uint8)


def _nearest_label(lab: np.ndarray, holes: np.ndarray, sites: np.ndarray) -> np.ndarray:
    """``lab`` with every ``holes`` pixel set to the label of the nearest ``sites`` pixel."""
    if not holes.any() or not sites.any():
        return lab
    src = np.where(sites, 0, 255).astype(np.uint8)  # zero pixels are the sites
    _, idx = cv2.distanceTransformWithLabels(src, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
    site_labels = lab[sites]  # sites are numbered 1.. in raster order
    out = lab.copy()
    out[holes] = site_labels[idx[holes] - 1]
    return out


def refine_hair(
    crop_rgb: np.ndarray,
    lab: np.ndarray,
    options: RefineOptions | None = None,
    hair_prob: np.ndarray | None = None,
) -> np.ndarray:
    """Re-trace the hair with GrabCut seeded from the labels (see the module docstring) -> uint8 labels.

    ``hair_prob`` (H×W, the parser's hair probability), when given, vetoes removals: hair the parser is
    sure of (>= ``options.hair_sure``) stays hair whatever its colour (blond hair on light skin)."""
    opts = options or RefineOptions()
    crop = np.asarray(crop_rgb)
    lab = np.asarray(lab, np.uint8)
    if crop.shape[:2] != lab.shape or crop.dtype != np.uint8 or crop.ndim != 3:
        raise ValueError(
            f"refine_hair needs a uint8 crop and labels of its size, got {crop.shape}, {lab.shape}"
        )
    hair = lab == HAIR
    if hair.sum() < 64 or (~hair).sum() < 64:
        return lab
    k = max(1, round(min(lab.shape) / 64))
    ell = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (4 * k + 1, 4 * k + 1))
    sure = cv2.erode(hair.astype(np.uint8), ell) > 0
    near = cv2.dilate(hair.astype(np.uint8), ell) > 0
    may_take = np.isin(lab, HAIR_MAY_TAKE)
    if sure.sum() < 32:
        return lab
    gc = np.full(lab.shape, cv2.GC_BGD, np.uint8)
    gc[near & may_take] = cv2.GC_PR_BGD
    gc[hair] = cv2.GC_PR_FGD
    gc[sure] = cv2.GC_FGD
    ys, xs = np.nonzero(near)
    m = 4 * k
    y0, y1 = max(0, ys.min() - m), min(lab.shape[0], ys.max() + m + 1)
    x0, x1 = max(0, xs.min() - m), min(lab.shape[1], xs.max() + m + 1)
    roi = gc[y0:y1, x0:x1].copy()
    img = crop[y0:y1, x0:x1].copy()
    # features (eyes, hat, ...) must not teach the not-hair colour model (a hat parsed over dark bangs
    # would make dark hair "not hair"): they take the median colour of what hair competes with
    feature = ~(may_take | hair)[y0:y1, x0:x1]
    rivals = (roi == cv2.GC_PR_BGD) | ((roi == cv2.GC_BGD) & ~feature)
    if rivals.sum() < 32:
        return lab
    img[feature] = np.median(img[rivals], axis=0).astype(np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(img, roi, None, bgd, fgd, int(opts.hair_iters), cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # degenerate colour statistics (e.g. a flat image): keep the parse
        return lab
    new_hair = np.zeros_like(hair)
    new_hair[y0:y1, x0:x1] = (roi == cv2.GC_FGD) | (roi == cv2.GC_PR_FGD)
    out = lab.copy()
    out[new_hair & ~hair & may_take & near] = HAIR
    lost = hair & ~new_hair  # takes the label of the nearest background / skin pixel
    if hair_prob is not None:
        lost &= np.asarray(hair_prob) < opts.hair_sure
    return _nearest_label(out, lost, may_take & ~hair)


def refine_parse(crop_rgb: np.ndarray, probs: np.ndarray, options: RefineOptions | None = None) -> np.ndarray:
    """Probabilities [19,H,W] of the crop -> refined uint8 labels (guided filter, then hair GrabCut)."""
    opts = options or RefineOptions()
    crop, p = _check(crop_rgb, probs)
    lab = refine_probabilities(crop, p, opts) if opts.guided else p.argmax(0).astype(np.uint8)
    if opts.hair:
        lab = refine_hair(crop, lab, opts, p[HAIR])
    return lab
