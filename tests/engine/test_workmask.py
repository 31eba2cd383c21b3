# ruff: noqa: F811 (the engine and photo fixtures come from test_photospace)
"""The working mask (engine.workmask): painted finer than the networks' crop, read by them per block,
followed by the paste at its own resolution."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine import workmask
from engine.labels import INDEX
from engine.session import EditSession
from tests.engine.session_fixtures import face_layout
from tests.engine.test_photospace import PHOTO, S, _layout_photo, engine, photo  # noqa: F401 (fixtures)

HAT, HAIR = INDEX["hat"], INDEX["hair"]


def _session(engine, photo, k=None) -> EditSession:
    c = PHOTO / 2
    return EditSession(engine, engine.prepare(photo, crop_box=(c, c, PHOTO), work_scale=k))


def test_the_grid_is_chosen_from_the_photo_and_an_untouched_mask_is_the_parse(engine, photo):
    assert [workmask.work_scale_for(v) for v in (0.5, 1.0, 1.9, 2.0, 3.9, 10.0)] == [1, 1, 1, 2, 2, 4]
    s = _session(engine, photo)  # ten photo pixels per crop pixel
    prep = s.prepared
    assert prep.work_scale == 4 and s.state.mask.shape == (4 * S, 4 * S)
    assert np.array_equal(prep.model_mask(s.state.mask), prep.parsed_mask)
    assert s.engine.is_unedited(prep, s.state)
    # the working parse is the parse's smooth enlargement: it agrees with it block by block
    blocks = prep.work_mask.reshape(S, 4, S, 4).transpose(0, 2, 1, 3).reshape(S, S, 16)
    agree = (blocks == prep.parsed_mask[:, :, None]).mean()
    assert agree > 0.95


def test_the_networks_read_painted_blocks_only_and_a_quarter_block_stroke_reaches_them(engine, photo):
    prep = _session(engine, photo).prepared
    work = prep.work_mask.copy()
    y, x = 8 * 4, 30 * 4  # a block of the crop, on the working grid
    work[y : y + 4, x : x + 3] = HAT  # three quarters of it
    work[y + 8 : y + 9, x : x + 4] = HAT  # one row of the block two below: a quarter
    work[y + 16 : y + 17, x : x + 2] = HAT  # half a row of the block four below: an eighth
    model = prep.model_mask(work)
    assert model[8, 30] == HAT and model[10, 30] == HAT
    assert model[12, 30] == prep.parsed_mask[12, 30], "a sliver under a quarter of a block does not"
    changed = np.argwhere(model != prep.parsed_mask)
    assert changed.tolist() == [[8, 30], [10, 30]]


def test_script_coordinates_mean_the_same_stroke_on_any_grid(engine, photo):
    fine, coarse = _session(engine, photo), _session(engine, photo, k=1)
    for s in (fine, coarse):
        s.paint_rect(10, 12, 20, 18, HAT)
        s.paint_brush([(40, 40), (50, 44)], 3, HAIR)
    mf = fine.prepared.model_mask(fine.state.mask)
    assert np.array_equal(mf == HAT, coarse.state.mask == HAT), "a rectangle covers the same crop pixels"
    # the stroke on the working grid: the pixels whose centre lies within the radius of its centre line,
    # both in crop coordinates
    k = fine.prepared.work_scale
    yy, xx = (np.mgrid[: k * S, : k * S] + 0.5) / k - 0.5
    a, b = np.array([40.0, 40.0]), np.array([50.0, 44.0])
    t = np.clip(((xx - a[0]) * (b - a)[0] + (yy - a[1]) * (b - a)[1]) / ((b - a) ** 2).sum(), 0, 1)
    ideal = np.hypot(xx - a[0] - t * (b - a)[0], yy - a[1] - t * (b - a)[1]) <= 3
    painted = fine.prepared.work_mask != HAIR
    got, ideal = (fine.state.mask == HAIR) & painted, ideal & painted
    assert got[ideal].all(), "every pixel under the stroke is painted"
    near = cv2.dilate(ideal.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert not (got & ~near).any() and (got & ~ideal).sum() < 0.06 * ideal.sum(), "and only those (±1 px)"


def _right_edges(out, photo, rows) -> np.ndarray:
    """Per row, the rightmost photo column the export changed."""
    diff = np.abs(out.astype(int) - photo.astype(int)).max(-1) > 12
    return np.array([np.flatnonzero(diff[r]).max() for r in rows], float)


def test_an_export_edge_lands_where_it_was_painted_finer_than_the_crop(engine, photo):
    s = _session(engine, photo)
    s.set_composite("changed")
    prep = s.prepared
    k, px = prep.work_scale, PHOTO / (S * prep.work_scale)  # 2.5 photo px per working px
    base = s.state
    edges = []
    for shift in (0, 2, 5):  # working pixels: half a crop pixel, then more than one
        m = prep.work_mask.copy()
        m[24 * k : 40 * k, 4 * k : 12 * k + shift] = HAT
        s.apply(base.with_mask(m))
        out = s.render_full()
        y0, y1 = (np.array([28, 36]) * k + 0.5) * px
        edges.append(_right_edges(out, photo, range(int(y0), int(y1))).mean())
    moved = np.diff(edges)
    assert abs(moved[0] - 2 * px) < 2.0, f"a 2 px (working grid) move moved the edge {moved[0]:.1f} photo px"
    assert abs(moved[1] - 3 * px) < 2.0, f"a 3 px move moved the edge {moved[1]:.1f} photo px"


def test_a_render_given_up_part_way_leaves_the_view_as_it_was(engine, photo):
    from engine.session import Superseded

    s = _session(engine, photo)
    prep = s.prepared
    eng = s.engine
    eng.render_view(prep, s.state, 0.25)
    s.paint_brush([(20, 30), (40, 34)], 3, HAIR)
    with pytest.raises(Superseded):
        eng.render_view(prep, s.state, 0.25, stop=lambda: True)
    got = eng.render_view(prep, s.state, 0.25)  # asked again: the whole change arrives
    fresh = _session(engine, photo)
    fresh.paint_brush([(20, 30), (40, 34)], 3, HAIR)
    want = fresh.engine.render_view(fresh.prepared, fresh.state, 0.25)
    assert got.view is not None and got.view.box == want.view.box
    assert np.array_equal(got.view.rgb, want.view.rgb)


def test_an_edge_the_networks_grid_made_is_a_curve_on_the_working_grid():
    # new content whose edge nobody painted (new hair meeting old hair): a shallow diagonal on the R
    # grid, whose steps are whole crop pixels, becomes a curve stepping by working pixels
    k, n = 4, 64
    yy, xx = np.mgrid[:n, :n]
    coarse = xx > 20 + 0.3 * yy
    hair = np.full((n, n), HAIR, np.uint8)
    work = np.full((k * n, k * n), HAIR, np.uint8)
    fine = workmask.fine_edges(coarse, work, work, hair)
    edge = np.array([np.argmax(fine[y]) for y in range(40, 200)], float)
    assert np.abs(np.diff(edge)).max() <= 2, "block steps along an edge nobody painted"
    # and a painted edge inside a block is followed: three quarters of a column of blocks painted hat
    # (the networks' grid turned those blocks hat); the unpainted quarter keeps the photo
    work2 = work.copy()
    work2[80:120, 40:43] = HAT
    model = hair.copy()
    model[20:30, 10] = HAT
    fine2 = workmask.fine_edges(coarse | (model == HAT), work2, work, model)
    assert fine2[84:116, 40:43].all() and not fine2[84:116, 43].any(), "the stroke's edge inside the block"


def test_synthesised_background_takes_the_photos_own_fine_detail(engine):
    # a background with fine grain the crop cannot hold: hair removed over it is refilled with the
    # photo's own grain (copied from where its texture came), not left smooth
    rng = np.random.default_rng(3)
    photo = _layout_photo()
    bg = face_layout(PHOTO) == INDEX["background"]
    grain = rng.normal(0, 12, (PHOTO, PHOTO, 1))
    photo = np.clip(photo + grain * bg[..., None], 0, 255).astype(np.uint8)
    c = PHOTO / 2
    s = EditSession(engine, engine.prepare(photo, crop_box=(c, c, PHOTO)))
    prep = s.prepared
    hair_r = prep.parsed_mask == HAIR
    ys, xs = np.nonzero(hair_r)
    m = prep.parsed_mask.copy()
    cut = hair_r & (xs.min() + 0.3 * (xs.max() - xs.min()) > np.arange(S)[None, :])
    m[cut] = INDEX["background"]
    s.set_mask(m)
    res = s.engine.renderer.detail_result(prep, s.state)
    synth = res.new_alpha >= 0.999
    assert synth.any() and np.isfinite(res.texture_offset[synth][:, 0]).mean() > 0.8
    out = s.render_full().astype(np.float32)
    region = np.where(synth, HAT, INDEX["background"]).astype(np.uint8)  # the synthesised pixels, as a class
    inside = cv2.erode((prep.mask_in_photo(region) == HAT).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    own = cv2.erode(bg.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    own &= ~cv2.dilate(inside.astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool)

    def fine(img):
        g = img.mean(-1)
        return g - cv2.GaussianBlur(g, (0, 0), 1.5)

    level = fine(out)[inside].std() / fine(photo.astype(np.float32))[own].std()
    assert inside.sum() > 500 and 0.6 < level < 1.5, f"the refilled background has {level:.2f} of the photo's grain"


def test_new_content_beside_another_class_stays_on_the_painted_pixels():
    # glasses painted on skin: a ring 3 working px wide; its blocks become glasses on the networks'
    # grid, and the new content is the painted pixels only (no rim of regenerated skin around them)
    k, n = 4, 64
    skin, glasses = INDEX["skin"], INDEX["eye_g"]
    parsed = np.full((k * n, k * n), skin, np.uint8)
    work = parsed.copy()
    cv2.circle(work, (128, 128), 40, int(glasses), 3)
    model = workmask.to_model(work, parsed, np.full((n, n), skin, np.uint8))
    coarse = model != skin
    fine = workmask.fine_edges(coarse, work, parsed, model)
    painted = work == glasses
    assert coarse.any() and fine[painted].mean() > 0.9
    assert not (fine & ~painted).any(), "unpainted skin around the frame counted as new content"


def test_in_photo_marks_the_crop_pixels_past_the_photos_edge(engine, photo):
    # a crop box that runs past the photo's right and bottom edges by a quarter of its side
    side = PHOTO / 2
    prep = engine.prepare(photo, crop_box=(PHOTO - side * 0.75 + side / 2,) * 2 + (side,))
    inside = prep.in_photo
    R = prep.parsed_mask.shape[0]
    assert inside.shape == (R, R) and inside.dtype == bool
    assert inside[: R // 2, : R // 2].all(), "the part over the photo shows it"
    assert not inside[-2:, :].any() and not inside[:, -2:].any(), "past its edges the crop repeats the border"
    assert 0.45 < inside.mean() < 0.65  # about three quarters of each side
    centred = engine.prepare(photo, crop_box=(PHOTO / 2, PHOTO / 2, side))
    assert centred.in_photo.all()
