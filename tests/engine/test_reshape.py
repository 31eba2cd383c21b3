"""The moving reshape (engine.reshape): moved regions keep their own texture, new ones borrow it."""

from __future__ import annotations

import cv2
import numpy as np

from engine.reshape import plan_reshape, reshape_composite, warp_labels_nearest

S = 128


def _discs(r_old: int, r_new: int):
    old = np.zeros((S, S), np.uint8)
    new = np.zeros((S, S), np.uint8)
    cv2.circle(old, (64, 64), r_old, 1, -1)
    cv2.circle(new, (64, 64), r_new, 1, -1)
    return old, new


def _photo(label: np.ndarray, seed: int = 0) -> np.ndarray:
    """Class 0 a smooth grey-blue backdrop, class 1 a high-contrast texture (hair-like stripes)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:S, :S]
    bg = np.stack([90 + 0.2 * xx, 110 + 0.1 * yy, np.full_like(xx, 140.0)], -1)
    tex = 120 + 50 * np.sin(xx * 1.3 + 0.7 * np.sin(yy * 0.4))[..., None] + rng.normal(0, 6, (S, S, 1))
    tex = np.repeat(tex, 3, -1) * [1.0, 0.8, 0.6]
    img = np.where(label[..., None] == 1, tex, bg)
    return np.clip(img, 0, 255).astype(np.uint8)


def _hp_level(img: np.ndarray, where: np.ndarray) -> float:
    g = img.astype(np.float32).mean(-1)
    return float((g - cv2.GaussianBlur(g, (0, 0), 1.0))[where].std())


def test_a_grown_region_is_a_move_not_a_synthesis():
    old, new = _discs(24, 28)
    plan = plan_reshape(old, new)
    assert not plan.synth.any()
    assert np.mean(warp_labels_nearest(old, plan.flow) != new) < 0.01  # a few outline pixels off
    # the new edge points back to the old one, 4 px inwards; far away nothing moves
    assert np.allclose(plan.flow[64 + 28, 64], (0, -4), atol=1.0)
    assert np.abs(plan.flow[2, 2]).max() == 0 and np.abs(plan.flow[64, 64]).max() < 1.0


def test_moved_pixels_keep_the_photos_texture_where_painting_would_not():
    old, new = _discs(24, 29)
    photo = _photo(old)
    flat = np.full_like(photo, 128)  # a generator that knows nothing of this texture
    out, plan = reshape_composite(photo, flat, old, new)
    ring = (new == 1) & (old == 0)
    ring = cv2.erode(ring.astype(np.uint8), np.ones((2, 2), np.uint8)) > 0
    own = cv2.erode((old == 1).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert _hp_level(out, ring) >= 0.8 * _hp_level(photo, own), "the grown ring shows the region's texture"
    assert np.array_equal(out[~plan.reach], photo[~plan.reach]), "pixels out of reach are the photo's"


def test_removed_region_reveals_background_continuous_with_the_visible_one():
    old, new = _discs(40, 0)
    new[:] = 0  # the textured region removed entirely: background everywhere
    photo = _photo(old)
    gen = np.full_like(photo, 60)  # a generator painting the hole far too dark
    out, plan = reshape_composite(photo, gen, old, new)
    hole = cv2.erode((old == 1).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert plan.synth[hole].mean() > 0.9, "too far to move: synthesised"
    ref = _photo(np.zeros_like(old))  # the backdrop as it would be without the region
    err = np.abs(out[hole].astype(float) - ref[hole]).mean()
    assert err < 12, f"the revealed background is {err:.1f} levels off the visible backdrop's gradient"
    assert _hp_level(out, hole) < 0.5 * _hp_level(photo, hole), "no texture of the removed region left"


def test_a_class_the_photo_lacks_moves_nothing_and_is_synthesised():
    old, _ = _discs(24, 24)
    new = old.copy()
    cv2.rectangle(new, (40, 60), (88, 63), 3, -1)  # glasses drawn across
    plan = plan_reshape(old, new)
    assert plan.synth[new == 3].all()
    assert np.abs(plan.flow).max() == 0


def test_a_region_is_never_moved_across_another_class():
    from engine.labels import INDEX

    up, low, mouth, skin = INDEX["u_lip"], INDEX["l_lip"], INDEX["mouth"], INDEX["skin"]
    old = np.full((128, 128), skin, np.uint8)
    old[58:61, 40:88] = up
    old[61:63, 40:88] = mouth
    old[63:68, 40:88] = low
    new = old.copy()
    new[55:58, 40:88] = low  # lower-lip label painted above the upper lip (a careless "fuller lips")
    new[68:71, 40:88] = low  # and below the lower lip, where it belongs
    plan = plan_reshape(old, new)
    above = plan.flow[55:58, 50:78]
    assert np.abs(above[..., 1]).max() < 3, "the lower lip's edge was pulled up across the mouth"
    assert plan.synth[56, 50:78].all(), "lip painted where no lip can move from is synthesised"
    below = plan.flow[70, 50:78, 1]
    assert (below < -1).all(), "below the lower lip the lip moves down to the new edge"
