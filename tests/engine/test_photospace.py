"""Carrying crop-space changes into the photo's pixels (engine.photospace): no halo, staircase or seam."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.bundle import load_bundle
from engine.composite import rgb_to_lab
from engine.detail import DetailResult, detail_composite
from engine.face import manual_alignment
from engine.labels import COLORS, INDEX
from engine.photospace import edge_weight, paste_change
from engine.photoview import ViewCompositor
from engine.session import EditSession, FaceEngine
from tests.engine.session_fixtures import LayoutParser, face_layout

S = 64  # the tiny bundle's crop
PHOTO = 640  # ten photo pixels per crop pixel, as on a real portrait
HAIR = INDEX["hair"]


def _layout_photo(size: int = PHOTO) -> np.ndarray:
    """A photo whose regions are the test layout's (so the parser's labels follow its own edges),
    coloured per class with a little texture."""
    lab = face_layout(size)  # the parser's layout drawn at the photo's size: smooth edges
    rng = np.random.default_rng(0)
    img = np.asarray(COLORS, np.float32)[lab] * 0.6 + 50
    img += rng.normal(0, 3, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def engine(tiny_bundle):
    return FaceEngine(load_bundle(tiny_bundle, device="cpu"), parser=LayoutParser())


@pytest.fixture(scope="module")
def photo():
    return _layout_photo()


@pytest.fixture
def session(engine, photo):
    c = PHOTO / 2
    return EditSession(engine, engine.prepare(photo, crop_box=(c, c, PHOTO)))


def test_hair_recolour_stays_inside_the_hair(session, photo):
    # the detail composite of a strong hair recolour (the generator's part is stood in for: the crop
    # itself, its hair turned green), carried into the photo at ten photo pixels per crop pixel
    prep = session.prepared
    mask = prep.parsed_mask
    edited = prep.crop.copy()
    edited[mask == HAIR] = (40, 190, 60)
    res = detail_composite(prep.crop, edited, prep.crop, detail_region=mask == HAIR,
                           reshape_region=np.zeros_like(mask, bool), segments=mask)  # fmt: skip
    out = paste_change(photo, prep.crop, res, prep.alignment.matrix)
    hair = prep.mask_in_photo(mask) == HAIR
    near = cv2.dilate(hair.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)  # a 3 px feather
    change_out = np.abs(out[~near].astype(float).mean(0) - photo[~near].astype(float).mean(0)).max()
    assert change_out < 1.0, f"the recolour leaks {change_out:.2f} levels outside the hair"
    core = cv2.erode(hair.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    moved = np.abs(rgb_to_lab(out[core]) - rgb_to_lab(photo[core])).mean()
    assert moved > 20, "the hair itself was recoloured"
    # the crop's change enlarged bilinearly (the paste before photo-space weights) does leak
    inv = cv2.invertAffineTransform(prep.alignment.matrix)
    d = cv2.warpAffine(res.delta_lab, inv, (PHOTO, PHOTO))
    leak = np.abs(d[~near]).sum(-1) > 1
    assert leak.mean() > 0.002, "the test's recolour would show a halo if enlarged naively"


def _edge_positions(img_l: np.ndarray, level: float, rows) -> np.ndarray:
    """Per row, the first x (sub-pixel) where ``img_l`` rises through ``level``."""
    xs = []
    for y in rows:
        r = img_l[y]
        i = int(np.argmax(r > level))
        xs.append(i - 1 + (level - r[i - 1]) / max(r[i] - r[i - 1], 1e-6))
    return np.asarray(xs)


def test_a_reshaped_edge_is_as_smooth_as_a_line_not_crop_pixel_steps():
    big = np.full((PHOTO, PHOTO, 3), 120, np.uint8)
    al = manual_alignment(big, (PHOTO / 2, PHOTO / 2), PHOTO, S)
    # a digital diagonal line at a shallow slope: at 10 photo px per crop px its steps are 10 px tall
    yy, xx = np.mgrid[:S, :S]
    region = xx > 20 + 0.3 * yy
    delta = np.zeros((S, S, 3), np.float32)
    delta[region] = (30.0, 0.0, 0.0)
    zero = np.zeros((S, S), np.float32)
    res = DetailResult(al.crop, delta, region.astype(np.float32), region.astype(np.float32), delta * 0, zero > 0)
    out = paste_change(big, al.crop, res, al.matrix, grain=False)
    L = rgb_to_lab(out)[..., 0]
    base = rgb_to_lab(big[:1, :1])[0, 0, 0]
    rows = np.arange(150, 490)
    xs = _edge_positions(L, base + 15, rows)
    step = np.abs(np.diff(xs)).max()  # the line itself moves 0.3 px per row
    wobble = np.abs(xs - np.polyval(np.polyfit(rows, xs, 1), rows)).max()
    assert step < 2.0, f"the edge jumps {step:.2f} px between rows: a staircase (crop pixels are 10 px)"
    assert wobble < 5.0, f"the edge wanders {wobble:.2f} px (half a crop pixel) from the line"
    # nearest-neighbour enlarging, for scale: 10 px steps
    blocky = cv2.resize(region.astype(np.float32), (PHOTO, PHOTO), interpolation=cv2.INTER_NEAREST)
    assert np.abs(np.diff(_edge_positions(blocky, 0.5, rows))).max() > 4 * step


def test_edge_weight_is_a_narrow_smooth_ramp():
    region = np.zeros((S, S), bool)
    region[:, 32:] = True
    to = np.array([[10.0, 0, 7.0], [0, 10.0, 7.0]])  # the edge falls inside a target pixel
    w = edge_weight(region, to, (PHOTO, PHOTO))[300]
    ramp = np.flatnonzero((w > 0.02) & (w < 0.98))
    assert 1 <= len(ramp) <= 4 and np.all(np.diff(w[ramp.min() - 1 : ramp.max() + 2]) >= 0)


def test_a_painted_region_reaching_the_crop_border_fades_out_without_a_seam(engine):
    # the crop sits inside the photo, so its left border is a line through photo pixels
    photo = _layout_photo(900)
    c = 450
    prep = engine.prepare(photo, crop_box=(c, c, 640))
    s = EditSession(engine, prep)
    s.paint_brush([(1, 20), (1, 50)], 6, HAIR)  # hair painted up to the crop's left border
    out = s.render_full()
    x_border = int(round(prep.alignment.to_photo([[-0.5, 0]])[0, 0]))  # the crop's left edge in the photo
    rows = slice(int(prep.alignment.to_photo([[0, 22]])[0, 1]), int(prep.alignment.to_photo([[0, 48]])[0, 1]))
    jump = np.abs(out[rows, x_border].astype(float) - out[rows, x_border - 1].astype(float)).mean()
    own = np.abs(photo[rows, x_border].astype(float) - photo[rows, x_border - 1].astype(float)).mean()
    assert jump < own + 2.0, f"a seam along the crop border: {jump:.1f} levels against the photo's {own:.1f}"
    inside = out[rows, x_border + 80].astype(float)
    assert np.abs(inside - photo[rows, x_border + 80]).mean() > 2, "the painted hair shows inside the crop"


def test_the_view_matches_the_export_and_recomposes_only_what_changed(session, photo):
    prep = session.prepared
    comp = ViewCompositor(prep.photo.rgb, prep.crop, prep.alignment.matrix, 1.0)
    session.color("hair", "#30c040")
    eng = session.engine
    first = comp.update(eng.renderer.detail_result(prep, session.state))
    full = session.render_full()
    x0, y0, x1, y1 = first.box
    assert np.array_equal(first.rgb, full[y0:y1, x0:x1]), "the view is the export's paste"
    session.paint_brush([(30, 58), (34, 58)], 1.5, INDEX["neck"])
    second = comp.update(eng.renderer.detail_result(prep, session.state))
    full = session.render_full()
    bx0, by0, bx1, by1 = second.box
    assert second.recomposed_px < 0.4 * (x1 - x0) * (y1 - y0), "a small stroke recomposes a few tiles"
    # tiles whose change moved by less than the view's tolerance keep what they showed
    off = np.abs(second.rgb.astype(int) - full[by0:by1, bx0:bx1]).max()
    assert off <= 2, f"the view is {off} levels off the export"
    assert comp.update(eng.renderer.detail_result(prep, session.state)) is None


def _ramp_width(row: np.ndarray) -> float:
    lo, hi = row.min(), row.max()
    t = (row - lo) / max(hi - lo, 1e-6)
    return float(np.count_nonzero((t > 0.1) & (t < 0.9)))


def test_new_content_beside_its_own_class_is_blended_not_cut():
    from engine.compositing import _soft_seam

    big = np.full((PHOTO, PHOTO, 3), 120, np.uint8)
    al = manual_alignment(big, (PHOTO / 2, PHOTO / 2), PHOTO, S)
    region = np.zeros((S, S), bool)
    region[:, 20:40] = True  # new hair; hair continues to its left (old hair), skin to its right
    mask = np.full((S, S), INDEX["skin"], np.uint8)
    mask[:, :40] = HAIR
    seam = _soft_seam(region, mask)
    assert seam[32, 18:22].min() > 0.5 and seam[32, 38:42].max() == 0, "only the hair-to-hair side is soft"
    delta = np.zeros((S, S, 3), np.float32)
    delta[region] = (30.0, 0.0, 0.0)
    zero = np.zeros((S, S), np.float32)
    widths = {}
    for name, soft in (("cut", None), ("soft", seam)):
        res = DetailResult(al.crop, delta, region.astype(np.float32), region.astype(np.float32), delta * 0,
                           zero > 0, soft_seam=soft)  # fmt: skip
        L = rgb_to_lab(paste_change(big, al.crop, res, al.matrix, grain=False))[..., 0]
        row = L[320]
        widths[name] = (_ramp_width(row[120:300]), _ramp_width(row[300:480]))
    assert widths["cut"][0] <= 4 and widths["cut"][1] <= 4
    assert widths["soft"][0] >= 12, f"the hair-to-hair seam ramps over {widths['soft'][0]} px only"
    assert widths["soft"][1] <= 4, "the edge against the skin stays sharp"


def test_an_edge_painted_on_the_working_grid_is_smooth_where_a_grid_pixel_is_about_a_photo_pixel():
    # 1.5 photo px per working-grid px (a 512² portrait, its crop past the photo's edges): the grid's
    # one-pixel steps along a slanted jaw line showed as a sawtooth before the edge was smoothed there
    side, k = 375, 4  # photo px; working grid = k × the crop's side
    big = np.full((side, side, 3), 120, np.uint8)
    al = manual_alignment(big, (side / 2, side / 2), side, S)  # 5.86 photo px per crop px
    yy, xx = np.mgrid[: S * k, : S * k]
    work = xx > 90 + 0.3 * yy
    region = cv2.resize(work.astype(np.float32), (S, S), interpolation=cv2.INTER_AREA) >= 0.5
    delta = np.zeros((S, S, 3), np.float32)
    delta[region] = (30.0, 0.0, 0.0)
    zero = np.zeros((S, S), np.float32)
    res = DetailResult(al.crop, delta, region.astype(np.float32), region.astype(np.float32), delta * 0,
                       zero > 0, work_new=work)  # fmt: skip
    L = rgb_to_lab(paste_change(big, al.crop, res, al.matrix, grain=False))[..., 0]
    base = rgb_to_lab(big[:1, :1])[0, 0, 0]
    rows = np.arange(60, 300)
    xs = _edge_positions(L, base + 15, rows)
    step = np.abs(np.diff(xs)).max()  # the line moves 0.44 photo px per row; a grid step is 1.46 px
    assert step < 1.0, f"the edge jumps {step:.2f} px between rows: the working grid's steps show"


def test_removed_dark_content_leaves_no_light_halo_and_takes_the_fringe_the_parse_missed():
    # dark hair on the left, light skin on the right; the parse's outline (the reshaped region) stops
    # 4 photo px short of the photo's own edge, so a dark fringe lies on the 'skin'. The hair is
    # removed: its pixels are filled with a mid grey.
    big = np.full((PHOTO, PHOTO, 3), 200, np.uint8)
    al = manual_alignment(big, (PHOTO / 2, PHOTO / 2), PHOTO, S)  # 10 photo px per crop px
    region = np.zeros((S, S), bool)
    region[:, :30] = True
    edge_x = int(round(al.to_photo([[29.5, 0]])[0, 0]))  # the region's edge in the photo
    photo = big.copy()
    photo[: PHOTO // 2, : edge_x + 4] = 40  # the top half: a 4 px dark fringe beyond the outline
    photo[PHOTO // 2 :, : edge_x] = 40  # the bottom half: the photo's edge on the outline
    crop = manual_alignment(photo, (PHOTO / 2, PHOTO / 2), PHOTO, S).crop
    fill = np.full((S, S, 3), 150, np.uint8)
    delta = (rgb_to_lab(fill) - rgb_to_lab(crop)) * region[:, :, None]
    zero = np.zeros((S, S), np.float32)
    res = DetailResult(fill, delta, region.astype(np.float32), region.astype(np.float32), delta * 0, zero > 0)
    out = paste_change(photo, crop, res, al.matrix, grain=False).astype(float)
    right = out[PHOTO // 2 + 100, edge_x - 10 : edge_x + 30, 0]
    assert right.max() <= 202, f"a light halo of {right.max():.0f} beside skin of 200"
    row = out[PHOTO // 2 - 100, :, 0]
    fringe = row[edge_x + 1 : edge_x + 4]
    assert fringe.min() >= 120, f"the dark fringe outside the outline stays at {fringe.min():.0f}"
    assert np.all(np.abs(row[edge_x + 12 :] - 200) <= 1), "the skin itself changed"


def test_a_magnified_region_is_regrained_to_the_photos_own_fine_level(engine, photo):
    c = PHOTO / 2
    s = EditSession(engine, engine.prepare(photo, crop_box=(c, c, PHOTO)))
    s.set_composite("moved")
    prep = s.prepared
    L_LIP = INDEX["l_lip"]
    s.paint_rect(27, 44, 37, 47, L_LIP)  # the lower lip made fuller downwards: a magnifying move
    res = engine.renderer.detail_result(prep, s.state)
    assert res.sharpen is not None and res.sharpen.max() > 0.1
    grown = (prep.mask_in_photo(s.state.mask) == L_LIP) & (prep.mask_in_photo(prep.parsed_mask) != L_LIP)
    grown = cv2.erode(grown.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    own = cv2.erode((prep.mask_in_photo(prep.parsed_mask) == L_LIP).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert grown.sum() > 200 and own.sum() > 200

    def fine(img, where):
        g = img.astype(np.float32).mean(-1)
        return float(np.std((g - cv2.GaussianBlur(g, (0, 0), 1.0))[where]))

    regrained = paste_change(photo, prep.crop, res, prep.alignment.matrix)
    plain = paste_change(photo, prep.crop, res, prep.alignment.matrix, grain=False)
    target = fine(photo, own)
    assert abs(fine(regrained, grown) - target) < abs(fine(plain, grown) - target)
    assert 0.75 < fine(regrained, grown) / target < 1.3, (fine(regrained, grown), target)
