"""The moving reshape (engine.reshape): moved regions keep their own texture, new ones borrow it."""

from __future__ import annotations

import cv2
import numpy as np

from engine.reshape import plan_reshape, warp_labels_nearest
from engine.reshape_fill import reshape_composite

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


def test_revealed_background_takes_nothing_from_the_border_repeated_past_the_photo():
    # hair (class 13) over a plain backdrop; the crop's bottom rows lie past the photo's edge and show
    # its border repeated (dark streaks, still labelled background by a parse)
    old = np.zeros((S, S), np.uint8)
    old[30:100, 40:90] = 13
    photo = np.full((S, S, 3), 200, np.uint8)
    photo[old == 13] = (60, 40, 30)
    in_photo = np.ones((S, S), bool)
    in_photo[100:] = False
    photo[100:] = (20, 10, 5)
    new = old.copy()
    new[60:100] = 0  # the hair shortened
    out, plan = reshape_composite(photo, np.full_like(photo, 128), old, new,
                                  plan=plan_reshape(old, new, in_photo=in_photo), in_photo=in_photo)
    revealed = (old == 13) & (new == 0)
    assert np.abs(out[revealed].astype(float) - 200).mean() < 8, "the fill is the visible backdrop's colour"
    assert not plan.synth[~in_photo].any() and np.abs(plan.flow[~in_photo]).max() == 0


def test_fill_keeps_its_own_colour_up_to_another_class():
    # hair removed beside the jaw (skin, class 1): the revealed backdrop runs right up to the skin, with
    # no dark rim from the hair or the skin, and the skin's edge does not move
    old = np.zeros((S, S), np.uint8)
    old[20:110, 30:64] = 1  # skin on the left
    old[20:110, 64:100] = 13  # hair beside it
    photo = np.full((S, S, 3), 220, np.uint8)
    photo[old == 1] = (200, 150, 130)
    photo[old == 13] = (40, 30, 20)
    new = old.copy()
    new[old == 13] = 0
    out, plan = reshape_composite(photo, np.full_like(photo, 128), old, new)
    assert np.abs(plan.flow[20:110, 60:64]).max() < 0.5, "the skin beside the removed hair stays put"
    rim = np.zeros((S, S), bool)
    rim[30:100, 64:67] = True  # the first revealed pixels beside the skin
    assert out[rim].astype(float).mean() > 200, "no dark rim where the fill meets the skin"
    assert np.abs(out[30:100, 30:60].astype(float) - photo[30:100, 30:60]).max() == 0


def test_removed_hair_takes_its_stray_fringe_with_it():
    old = np.zeros((S, S), np.uint8)
    old[20:108, 40:88] = 13
    new = old.copy()
    new[70:108] = 0
    plan = plan_reshape(old, new)
    fringe = np.zeros((S, S), bool)
    fringe[85:100, 88:89] = True  # background just outside the parse's outline of the removed hair
    assert plan.synth[fringe].all()
    assert not plan.synth[75:100, 100:].any(), "only a couple of pixels past the outline"


def test_a_magnifying_move_is_sharpened_and_a_compressing_one_is_not():
    old, new = _discs(20, 26)  # the disc grows: its rim is stretched
    grown = plan_reshape(old, new)
    ring = (new == 1) & (old == 0)
    assert grown.sharpen[ring].mean() > 0.1
    shrunk = plan_reshape(new, old)
    assert shrunk.sharpen.max() < 0.05 or shrunk.sharpen[(old == 1)].mean() < 0.02
    assert np.all(grown.sharpen[~grown.reach] == 0)


def test_a_class_the_photo_lacks_takes_the_references_texture_and_colour():
    old, new = _discs(0, 30)  # hair (1 here) painted where the photo has none
    photo = np.full((S, S, 3), 170, np.uint8)
    ref_label = np.zeros((S, S), np.uint8)
    ref_label[20:110, 20:110] = 1
    ref_crop = _photo(ref_label, seed=3)  # its class 1: the striped texture
    gen = np.full((S, S, 3), 128, np.uint8)  # a flat render knows nothing of it
    out, plan = reshape_composite(photo, gen, old, new, texture_from={1: (ref_crop, ref_label == 1)})
    inside = cv2.erode((new == 1).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    own = cv2.erode((ref_label == 1).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert plan.from_reference[inside].all()
    assert np.abs(out[inside].mean(0) - ref_crop[own].mean(0)).max() < 12, "the reference's colour"
    assert _hp_level(out, inside) > 0.5 * _hp_level(ref_crop, own), "and its texture"
    bare, _ = reshape_composite(photo, gen, old, new)
    assert _hp_level(bare, inside) < 0.2 * _hp_level(out, inside), "without it there is no texture to copy"


def test_synthesised_texture_shows_no_patch_seams_and_keeps_its_level():
    from engine.reshape_fill import _texture

    rng = np.random.default_rng(3)
    hp = cv2.GaussianBlur(rng.normal(0, 10, (S, S)).astype(np.float32), (0, 0), 1.5)
    hp = np.repeat(hp[..., None], 3, -1)
    source = np.zeros((S, S), bool)
    source[:, :40] = True
    target = np.zeros((S, S), bool)
    target[:, 48:] = True
    offsets = np.full((S, S, 2), np.nan, np.float32)
    out = _texture(hp, source, target, 8, seed=1, offsets=offsets)[..., 0]
    assert np.isfinite(offsets[target]).all() and not np.isfinite(offsets[~target]).any()
    # the level of the copied texture: that of the source, not washed out where patches overlap
    assert 0.85 < out[target].std() / hp[source].std() < 1.15
    # jumps between neighbouring pixels, by column and row position within the 8 px grid a blockwise copy
    # cuts along: no position stands out
    dx = np.abs(np.diff(out[:, 48:], axis=1))
    dy = np.abs(np.diff(out[:, 48:], axis=0))
    by_col = np.array([dx[:, i::8].mean() for i in range(8)])
    by_row = np.array([dy[i::8].mean() for i in range(8)])
    assert by_col.max() / np.median(by_col) < 1.25 and by_row.max() / np.median(by_row) < 1.25, (by_col, by_row)


def test_the_renders_change_of_light_reaches_moved_pixels_only_where_the_render_explains_the_photo():
    from engine.composite import rgb_to_lab

    old, new = _discs(24, 29)
    photo = _photo(old)
    # the render of the old mask is the photo itself (a face like the generator's own); the render of
    # the new mask lights the grown region 12 levels brighter than that, moved
    before = photo.copy()
    plan = plan_reshape(old, new)
    from engine.reshape import warp_image

    brighter = np.clip(warp_image(photo, plan.flow).astype(int) + 12, 0, 255).astype(np.uint8)
    after = np.where(plan.reach[..., None], brighter, photo).astype(np.uint8)
    plain, _ = reshape_composite(photo, after, old, new, plan=plan)
    lit, _ = reshape_composite(photo, after, old, new, plan=plan, gen_before=before)
    core = cv2.erode(plan.reach.astype(np.uint8) & (np.abs(plan.flow).max(-1) > 0.5).astype(np.uint8),
                     np.ones((5, 5), np.uint8)) > 0  # fmt: skip
    gain = (rgb_to_lab(lit)[..., 0] - rgb_to_lab(plain)[..., 0])[core].mean()
    assert gain > 3.0, f"the moved pixels took {gain:.1f} of the render's brighter light"
    far = cv2.dilate((old != new).astype(np.uint8), np.ones((41, 41), np.uint8)) == 0
    assert np.array_equal(lit[far], photo[far]), "pixels far from the change are the photo's"
    # removed: unmoved pixels just beside the change, which the new render lights differently (the
    # shadow the old shape cast, lifted), take that change too
    gone = np.zeros_like(old)
    plan_gone = plan_reshape(old, gone)
    beside = (cv2.dilate(old, np.ones((9, 9), np.uint8)) > 0) & ~plan_gone.reach
    after_gone = photo.copy()
    after_gone[old == 1] = photo[0, 0]
    after_gone[beside] = np.clip(photo[beside].astype(int) + 12, 0, 255)
    lit_gone, _ = reshape_composite(photo, after_gone, old, gone, plan=plan_gone, gen_before=before)
    core = cv2.erode(beside.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    gain_beside = (rgb_to_lab(lit_gone)[..., 0] - rgb_to_lab(photo)[..., 0])[core].mean()
    assert core.sum() > 50 and gain_beside > 3.0, f"the pixels beside took {gain_beside:.1f} of the new light"
    # a render that does not look like the photo (a real portrait, a clay generator): nothing taken
    unlike = np.clip(before.astype(int) + 60, 0, 255).astype(np.uint8)
    after_unlike = np.clip(after.astype(int) + 60, 0, 255).astype(np.uint8)
    untrusted, _ = reshape_composite(photo, after_unlike, old, new, plan=plan, gen_before=unlike)
    assert np.abs(untrusted.astype(int) - plain).max() <= 1


def test_stray_strands_on_the_wall_are_not_copied_into_revealed_background():
    old, _ = _discs(30, 30)
    new = np.zeros_like(old)  # the region (hair) removed
    rng = np.random.default_rng(4)
    photo = _photo(old)
    wall = np.full_like(photo, 235)
    wall = np.clip(wall.astype(int) + rng.normal(0, 1.5, wall.shape), 0, 255).astype(np.uint8)
    photo = np.where((old == 1)[..., None], photo, wall)
    # wisps of the removed region: dark strands across the wall, a few pixels wide
    yy, xx = np.mgrid[:S, :S]
    for k in range(12):
        on = np.abs((xx - 10 * k) - 0.4 * yy) < 0.7
        photo[on & (old == 0)] = 120
    out, plan = reshape_composite(photo, np.full_like(photo, 235), old, new)
    hole = cv2.erode((old == 1).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    dark = (out[hole].astype(float).mean(-1) < 200).mean()
    assert dark < 0.01, f"{100 * dark:.1f} % of the revealed wall shows the strands' darkness"


def test_a_class_the_change_does_not_touch_stays_where_it_is():
    old, new = _discs(24, 29)
    # an earring (class 2) just outside the region, which grows round it
    cv2.circle(old, (64 + 27, 64), 2, 2, -1)
    new[old == 2] = 2
    plan = plan_reshape(old, new)
    ring = (old == 2)
    assert np.abs(plan.flow[ring]).max() < 0.05, "the earring was dragged by the move beside it"
    assert np.abs(plan.flow[64 - 28, 64]).max() > 2.0, "the region still grows elsewhere"
