"""engine.refine: guided-filter edge refinement and GrabCut hair against the photo."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from engine import labels
from engine.parsing import NetworkParser, RefineOptions, make_parser
from engine.refine import (
    HAIR_MAY_TAKE,
    OUTLINE_CLASSES,
    guided_filter,
    refine_hair,
    refine_parse,
    refine_probabilities,
)

L = labels.INDEX
COLOURS = {
    0: (90, 120, 160),
    L["hair"]: (70, 45, 30),
    L["skin"]: (215, 170, 140),
    L["neck"]: (200, 155, 125),
    L["l_eye"]: (60, 60, 70),
    L["r_eye"]: (60, 60, 70),
    L["u_lip"]: (180, 80, 90),
}


def scene(size=128, seed=0):
    """A sharp synthetic portrait (lumpy hair, face, eyes, lip, neck) with shading and noise, and its labels."""
    rng = np.random.default_rng(seed)
    s = size / 256
    lab = np.zeros((size, size), np.uint8)

    def ell(c, ax, k):
        cv2.ellipse(lab, (int(c[0] * s), int(c[1] * s)), (int(ax[0] * s), int(ax[1] * s)), 0, 0, 360, k, -1)

    ell((128, 120), (95, 105), L["hair"])
    for _ in range(8):
        a, rad = rng.uniform(0, 2 * np.pi), rng.uniform(8, 18)
        cv2.circle(lab, (int((128 + 95 * np.cos(a)) * s), int((120 + 105 * np.sin(a)) * s)), int(rad * s),
                   L["hair"], -1)  # fmt: skip
    cv2.rectangle(lab, (int(90 * s), int(190 * s)), (int(166 * s), size), L["neck"], -1)
    ell((128, 140), (62, 80), L["skin"])
    ell((100, 125), (10, 5), L["l_eye"])
    ell((156, 125), (10, 5), L["r_eye"])
    ell((128, 185), (20, 6), L["u_lip"])
    img = np.zeros((size, size, 3), np.float32)
    for k, c in COLOURS.items():
        img[lab == k] = c
    shade = cv2.resize(
        rng.normal(0, 12, (6, 6)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC
    )
    img += shade[:, :, None] + rng.normal(0, 8, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), lab


def degrade(lab, shift, sigma):
    """A parser's view: the labels shifted and blurred into soft probabilities [19,H,W]."""
    oh = np.eye(labels.NUM_CLASSES, dtype=np.float32)[lab]
    oh = np.pad(oh, ((shift[0], 0), (shift[1], 0), (0, 0)), mode="edge")[: lab.shape[0], : lab.shape[1]]
    p = 0.9 * cv2.GaussianBlur(oh, (0, 0), sigma) + 0.1 / labels.NUM_CLASSES
    return (p / p.sum(2, keepdims=True)).transpose(2, 0, 1)


def iou(a, b, k):
    return ((a == k) & (b == k)).sum() / max(1, ((a == k) | (b == k)).sum())


def miou(a, truth):
    return float(np.mean([iou(a, truth, k) for k in np.unique(truth)]))


@pytest.fixture(scope="module")
def case():
    img, truth = scene(128)
    return img, truth, degrade(truth, (2, 2), 1.5)


# ----------------------------------------------------------------------------------------- guided filter
def test_guided_filter_smooths_flat_areas_and_keeps_guide_edges():
    g = np.zeros((40, 40, 3), np.float32)
    g[:, 20:] = 1.0
    const = np.full((40, 40, 2), 0.3, np.float32)
    assert np.allclose(guided_filter(g, const, 3, 1e-3), 0.3, atol=1e-4)
    step = np.zeros((40, 40), np.float32)
    step[:, 22:] = 1.0  # the parser's edge sits 2 px right of the image's
    soft = cv2.GaussianBlur(step, (0, 0), 2)[:, :, None]
    assert soft[:, 21, 0].max() < 0.5
    out = guided_filter(g, soft, 4, 1e-3)
    assert out.shape == (40, 40, 1)
    assert out[:, 19, 0].max() < 0.5 < out[:, 20, 0].min()  # the 0.5 crossing moved onto the image edge
    loose = guided_filter(g, soft, 4, 10.0)  # a huge eps ignores the guide: plain smoothing
    assert loose[:, 20, 0].mean() < 0.5  # a huge eps ignores the guide: the edge stays where it was
    half = guided_filter(g, soft, 4, 1e-3, subsample=2)
    assert np.abs(half - out).mean() < 0.05
    with pytest.raises(ValueError, match="guide"):
        guided_filter(g[:, :, 0], soft, 3, 1e-3)


# -------------------------------------------------------------------------------------------- refinement
def test_guided_refinement_improves_iou_and_stays_near_edges(case):
    img, truth, probs = case
    base = probs.argmax(0)
    out = refine_probabilities(img, probs, RefineOptions(hair=False))
    assert out.dtype == np.uint8 and out.shape == truth.shape and out.max() < labels.NUM_CLASSES
    assert miou(out, truth) >= miou(base, truth)
    outline = [k for k in np.unique(truth) if k in OUTLINE_CLASSES]
    gains = [iou(out, truth, k) - iou(base, truth, k) for k in outline]
    assert min(gains) >= 0 and np.mean(gains) > 0.02  # the large regions' outlines snap to the image
    assert iou(out, truth, L["hair"]) > iou(base, truth, L["hair"])
    k = np.ones((3, 3), np.uint8)
    edge = cv2.dilate(base.astype(np.uint8), k) != cv2.erode(base.astype(np.uint8), k)
    far = cv2.dilate(edge.astype(np.uint8), np.ones((7, 7), np.uint8)) == 0  # beyond the 2r band (r = 2)
    assert np.array_equal(out[far], base[far])
    features = ~np.isin(base, OUTLINE_CLASSES)  # eyes, lips keep their parsed pixels, and nothing takes them
    assert np.array_equal(out[features], base[features])
    assert not np.isin(out[~features], np.flatnonzero(~np.isin(np.arange(19), OUTLINE_CLASSES))).any()


def test_hair_grabcut_traces_hair_and_keeps_labels_valid(case):
    img, truth, _ = case
    shifted = np.full_like(truth, L["background"])
    shifted[3:, 3:] = truth[:-3, :-3]  # hair (and everything) 3 px off
    out = refine_hair(img, shifted)
    assert out.dtype == np.uint8 and out.max() < labels.NUM_CLASSES
    assert iou(out, truth, L["hair"]) > iou(shifted, truth, L["hair"]) + 0.03
    feats = ~np.isin(shifted, (L["hair"], *HAIR_MAY_TAKE))
    assert np.array_equal(out[feats], shifted[feats])  # eyes, lips, neck... never become hair
    changed = out != shifted
    assert np.isin(out[changed & (shifted == L["hair"])], HAIR_MAY_TAKE).all()
    # hair the parser is sure of is never removed, whatever its colour
    sure = np.where(shifted == L["hair"], 0.9, 0.0).astype(np.float32)
    vetoed = refine_hair(img, shifted, hair_prob=sure)
    assert (vetoed[shifted == L["hair"]] == L["hair"]).all()


def test_hair_refinement_leaves_hairless_or_flat_crops_alone(case):
    img, truth, _ = case
    bald = np.where(truth == L["hair"], L["background"], truth).astype(np.uint8)
    assert np.array_equal(refine_hair(img, bald), bald)
    flat = np.full_like(img, 128)
    assert refine_hair(flat, truth).max() < labels.NUM_CLASSES
    with pytest.raises(ValueError):
        refine_hair(img, truth[:10])


def test_refine_parse_improves_or_keeps_iou(case):
    img, truth, probs = case
    base = probs.argmax(0)
    both = refine_parse(img, probs)
    assert miou(both, truth) >= miou(base, truth)
    assert iou(both, truth, L["hair"]) > iou(base, truth, L["hair"]) + 0.03
    off = refine_parse(img, probs, RefineOptions(guided=False, hair=False))
    assert np.array_equal(off, base)
    with pytest.raises(ValueError, match="probabilities"):
        refine_parse(img, probs[:5])


# ------------------------------------------------------------------------------------- parser options
class FixedNet(nn.Module):
    """Ignores the picture and returns fixed logits (a parser whose edges sit off)."""

    def __init__(self, logits: np.ndarray):
        super().__init__()
        self.register_buffer("logits", torch.from_numpy(np.ascontiguousarray(logits)).float()[None])

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1, -1, -1)


def test_network_parser_refine_option(case):
    img, truth, probs = case
    net = FixedNet(np.log(probs))
    plain = NetworkParser(net, "cpu", flip_average=False)
    assert plain.refine is None
    base = plain.parse(img)
    refined = NetworkParser(net, "cpu", flip_average=False, refine=True)
    assert refined.refine == RefineOptions()
    out = refined.parse(img)
    assert miou(out, truth) > miou(base, truth)
    custom = NetworkParser(net, "cpu", flip_average=False, refine=RefineOptions(guided=False, hair=False))
    assert np.array_equal(custom.parse(img), base)
    with pytest.raises(TypeError, match="refine"):
        NetworkParser(net, "cpu", refine="yes")

    class _Bundle:
        device = torch.device("cpu")

        def get(self, name):
            return net

    assert make_parser("bundle", bundle=_Bundle()).refine is not None
    assert make_parser("bundle", bundle=_Bundle(), refine=False).refine is None
