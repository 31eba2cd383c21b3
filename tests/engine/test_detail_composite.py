"""Detail-preserving compositing: the edit moves colour and shading, the photo keeps its texture."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.bundle import load_bundle
from engine.composite import (
    blend_crop,
    feather,
    lab_to_rgb,
    laplacian_blend,
    paste_back,
    rgb_to_lab,
)
from engine.detail import DetailResult, band_sigma, detail_composite, pyramid_levels, reshape_band
from engine.face import manual_alignment
from engine.imageio import load_image, save_image
from engine.photospace import paste_change
from engine.rendering import Renderer
from engine.session import EditSession, FaceEngine, StateError
from engine.state import EditState, Override
from tests.engine.session_fixtures import LayoutParser

S = 128


def _u8(x):
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _field(size, seed, base=(200, 150, 120), amp=30.0):
    rng = np.random.default_rng(seed)
    low = cv2.resize(
        rng.normal(0, amp, (5, 5, 3)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC
    )
    return np.float32(base) + low


def textured(size, seed=0, amp=18.0):
    """A smooth face-like colour field plus strong high-frequency texture (grain and fine stripes)."""
    rng = np.random.default_rng(seed + 100)
    tex = rng.normal(0, amp, (size, size, 1)) + np.sin(np.arange(size) * 2.1)[None, :, None] * amp * 0.5
    return _u8(_field(size, seed) + tex)


def highpass(img, sigma=1.0):
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return g - cv2.GaussianBlur(g, (0, 0), sigma)


def corr(a, b):
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def ellipse(size, center, axes):
    m = np.zeros((size, size), np.uint8)
    cv2.ellipse(m, center, axes, 0, 0, 360, 1, -1)
    return m.astype(bool)


# ------------------------------------------------------------------------------------------ primitives
def test_lab_is_exact_and_agrees_with_opencv():
    rgb = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    lab = rgb_to_lab(rgb)
    assert np.abs(lab_to_rgb(lab) - rgb).max() < 0.01
    ref = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    assert np.abs(lab - ref).max() < 0.6  # OpenCV's float path approximates its gamma curve
    assert np.allclose(rgb_to_lab(rgb.astype(np.float32)), lab, atol=1e-3)


def test_laplacian_blend_keeps_far_sides_and_switches_detail_sharply():
    rng = np.random.default_rng(1)
    a = rng.random((64, 64, 3), dtype=np.float32)
    b = rng.random((64, 64, 3), dtype=np.float32)
    m = np.zeros((64, 64), np.float32)
    m[:, :32] = 1
    out = laplacian_blend(a, b, m, 3)
    assert np.allclose(out[:, :8], b[:, :8], atol=1e-3) and np.allclose(out[:, 56:], a[:, 56:], atol=1e-3)
    assert np.allclose(laplacian_blend(a, a, m, 3), a, atol=1e-5)
    # the finest band follows the hard mask: pixel 30 already carries b's fine detail
    assert (
        corr(
            out[:, 30] - cv2.GaussianBlur(out, (0, 0), 1)[:, 30],
            b[:, 30] - cv2.GaussianBlur(b, (0, 0), 1)[:, 30],
        )
        > 0.5
    )


def test_parameters_scale_with_resolution():
    assert (
        band_sigma(256) == pytest.approx(2.5)
        and band_sigma(512) == pytest.approx(5.0)
        and band_sigma(32) == 1.0
    )
    assert pyramid_levels(64) == 1 and pyramid_levels(256) == 3 and pyramid_levels(512) == 4
    assert reshape_band(64) == 3.0 and reshape_band(256) == 8.0


# ------------------------------------------------------------------------------------- the composite
def _pair(size, region, shift):
    """Unedited / edited renders: generator-like (smooth + its own faint noise), differing in region's
    low-frequency colour by ``shift``."""
    f = _field(size, 0) + 6.0
    w = cv2.GaussianBlur(region.astype(np.float32), (0, 0), 2)[:, :, None]
    une = _u8(f + np.random.default_rng(2).normal(0, 3, f.shape))
    edt = _u8(f + np.float32(shift) * w + np.random.default_rng(3).normal(0, 3, f.shape))
    return une, edt


def test_colour_edit_keeps_photo_detail_and_moves_mean_colour():
    photo = textured(S)
    region = ellipse(S, (64, 64), (30, 40))
    shift = (-60.0, 20.0, 50.0)
    une, edt = _pair(S, region, shift)
    r = detail_composite(photo, edt, une, detail_region=region, reshape_region=np.zeros_like(region),
                         segments=region.astype(int))  # fmt: skip
    inner = cv2.erode(region.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert corr(highpass(r.rgb)[inner], highpass(photo)[inner]) >= 0.9
    moved = r.rgb[inner].mean(0) - photo[inner].mean(0)
    wanted = (edt.astype(float) - une)[inner].mean(0)
    assert np.all(np.abs(moved - wanted) < 0.1 * np.abs(wanted).max())  # the mean colour follows the edit
    # the raw mode gives the generator's texture instead: the detail is gone
    raw = blend_crop(photo, edt, feather(region, 3))
    assert corr(highpass(raw)[inner], highpass(photo)[inner]) < 0.3
    outside = r.support == 0
    assert outside.any() and np.array_equal(r.rgb[outside], photo[outside])
    assert (r.support[region] == 1).all() and (r.new_alpha == 0).all()


def test_change_does_not_bleed_between_edited_classes():
    photo = textured(S, 1)
    left = np.zeros((S, S), bool)
    left[20:100, 20:64] = True
    right = np.zeros((S, S), bool)
    right[20:100, 64:108] = True
    une, _ = _pair(S, left, (0, 0, 0))
    edt = une.astype(np.float32)
    edt[left] += (-50, 0, 0)
    edt[right] += (0, 0, 50)
    seg = np.where(left, 1, np.where(right, 2, 0))
    r = detail_composite(photo, _u8(edt), une, detail_region=left | right, reshape_region=np.zeros_like(left),
                         segments=seg)  # fmt: skip
    d = r.rgb.astype(float) - photo
    # right next to the boundary each side carries its own change, not a mix
    assert d[30:90, 60:63, 0].mean() < -35 and abs(d[30:90, 60:63, 2].mean()) < 8
    assert d[30:90, 65:68, 2].mean() > 35 and abs(d[30:90, 65:68, 0].mean()) < 8


def test_no_change_is_bit_exact():
    photo = textured(S, 2)
    region = ellipse(S, (64, 64), (30, 40))
    une, _ = _pair(S, region, (0, 0, 0))
    r = detail_composite(photo, une, une, detail_region=region, reshape_region=np.zeros_like(region),
                         segments=np.zeros((S, S), int))  # fmt: skip
    assert np.array_equal(r.rgb, photo) and not r.delta_lab.any()
    with pytest.raises(ValueError, match="unedited"):
        detail_composite(photo, une, None, detail_region=region, reshape_region=~region, segments=region)


def _seam(img, border, sigma=2.0):
    """Gradient energy of the smoothed image along a border: a seam is a low-frequency step."""
    g = cv2.GaussianBlur(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), sigma)
    gx, gy = cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1)
    return float(np.sqrt(gx * gx + gy * gy)[border].mean())


def test_reshaped_region_blends_without_a_seam():
    size = 256
    photo = textured(size, 3)
    A = ellipse(size, (128, 128), (50, 50))
    gen = _u8(_field(size, 3) + (35, 25, -20))  # the generator's colour cast, and no grain at all
    seg = np.ones((size, size), int)
    r = detail_composite(photo, gen, None, detail_region=np.zeros_like(A), reshape_region=A, segments=seg)
    k = np.ones((5, 5), np.uint8)
    border = (cv2.dilate(A.astype(np.uint8), k) > 0) & ~(cv2.erode(A.astype(np.uint8), k) > 0)
    own = _seam(photo, border)
    assert _seam(r.rgb, border) < 1.3 * own  # no step beyond the photo's own variation
    assert _seam(blend_crop(photo, gen, feather(A, 3)), border) > 1.6 * own  # a plain feather shows one
    inside = cv2.erode(A.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert np.abs(r.rgb[inside].mean(0) - photo[inside].mean(0)).max() < 6  # colour matched to the photo
    assert highpass(r.rgb)[inside].std() > 0.6 * highpass(photo)[inside].std()  # grain matched
    assert (r.new_alpha[A] == 1).all()
    far = r.support == 0
    assert np.array_equal(r.rgb[far], photo[far])
    assert not (cv2.dilate(A.astype(np.uint8), np.ones((19, 19), np.uint8)) == 0)[r.support > 0].any()


# --------------------------------------------------------------------------------------- paste_detail
def test_paste_change_keeps_full_resolution_detail():
    big = textured(512, 4, amp=14)
    al = manual_alignment(big, (256, 256), 400, S)  # ~3 photo px per crop px
    region = ellipse(S, (64, 64), (30, 30))
    delta = np.zeros((S, S, 3), np.float32)
    delta[region] = (0.0, 30.0, 0.0)  # towards red
    support = feather(region, 3)
    delta *= support[:, :, None]
    zero = np.zeros((S, S), np.float32)
    out = paste_change(big, al.crop, DetailResult(al.crop, delta, support, zero), al.matrix)
    inv = cv2.invertAffineTransform(al.matrix)
    warped = cv2.warpAffine(support, inv, (512, 512)) > 0
    assert np.array_equal(out[~warped], big[~warped])
    core = cv2.warpAffine(cv2.erode(region.astype(np.uint8), np.ones((5, 5), np.uint8)), inv, (512, 512)) > 0
    assert corr(highpass(out)[core], highpass(big)[core]) > 0.9
    assert rgb_to_lab(out[core])[:, 1].mean() - rgb_to_lab(big[core])[:, 1].mean() > 25
    # pasting the crop's pixels instead loses the detail finer than the crop
    pasted = paste_back(
        big, lab_to_rgb(rgb_to_lab(al.crop) + delta).round().astype(np.uint8), support, al.matrix
    )
    assert corr(highpass(pasted)[core], highpass(big)[core]) < 0.5
    same = paste_change(big, al.crop, DetailResult(al.crop, np.zeros_like(delta), support, zero), al.matrix)
    assert np.array_equal(same, big)


# ------------------------------------------------------------------------------------------- session
@pytest.fixture(scope="module")
def engine(tiny_bundle):
    return FaceEngine(load_bundle(tiny_bundle, device="cpu"), parser=LayoutParser())


@pytest.fixture
def session(engine):
    return EditSession(engine, engine.prepare(textured(64, 5), align=False))


def test_unedited_exports_are_bit_exact(engine, tmp_path):
    photo = textured(200, 6)
    save_image(tmp_path / "in.png", photo)
    s = EditSession(engine, engine.prepare(tmp_path / "in.png"))
    for i, mode in enumerate(("changed", "raw", "changed")):
        s.set_composite(mode)
        if i == 2:
            s.tune("skin", 3, 0.0)  # a step of 0 on an untouched region leaves no override (engine.edits)
            assert not s.state.overrides
            # an untuned "own" override (as older sessions hold) changes nothing either
            s.apply(s.state.with_override(1, Override("own", tune_seed=3)))
            assert s.state.overrides and engine.is_unedited(s.prepared, s.state)
        s.export(tmp_path / f"out{i}.png")
        assert np.array_equal(load_image(tmp_path / f"out{i}.png").rgb, photo)
        assert np.array_equal(s.render(), s.prepared.crop)


@pytest.mark.parametrize("edit", ["color", "tune"])
def test_session_edit_keeps_detail(session, edit):
    crop = session.prepared.crop
    if edit == "color":
        session.color("skin", "#ff2020")
    else:
        session.tune("skin", 1, 3.0)
    out = session.render()
    inner = cv2.erode((session.state.mask == 1).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert np.any(out[inner] != crop[inner])
    assert corr(highpass(out)[inner], highpass(crop)[inner]) >= 0.9
    if edit == "tune":  # a large change, still with the photo's texture
        low = cv2.GaussianBlur(out.astype(np.float32), (0, 0), 2) - cv2.GaussianBlur(
            crop.astype(np.float32), (0, 0), 2
        )
        assert np.abs(low[inner]).mean() > 3
    session.set_composite("raw")
    raw = session.render()
    assert corr(highpass(raw)[inner], highpass(crop)[inner]) < 0.5


def test_raw_mode_is_the_plain_feathered_blend(session, engine):
    session.color("hair", "#2040ff")
    session.paint_rect(2, 2, 12, 12, 13)
    session.set_composite("raw")
    expected = blend_crop(session.prepared.crop, engine.generate(session.prepared, session.state),
                          feather(engine.changed_region(session.prepared, session.state), 3.0))  # fmt: skip
    assert np.array_equal(session.render(), expected)


@pytest.fixture
def unedited_calls(monkeypatch) -> list:
    """Counts the unedited renders the Renderer makes (one entry per call)."""
    calls = []
    real = Renderer.generate_unedited

    def counting(self, prep, state):
        calls.append(1)
        return real(self, prep, state)

    monkeypatch.setattr(Renderer, "generate_unedited", counting)
    return calls


def test_unedited_render_is_cached_across_a_slider_drag(session, engine, unedited_calls):
    calls = unedited_calls
    for eta in (0.5, 1.0, 1.5, 2.0):
        session.tune("hair", 4, eta)
        session.render()
    assert len(calls) == 1
    session.paint_rect(2, 2, 12, 12, 13)  # a new mask: one new unedited render
    session.render()
    assert len(calls) == 2
    s2 = EditSession(engine, engine.prepare(textured(64, 8), align=False))
    s2.paint_rect(2, 2, 12, 12, 13)  # a stroke with no style edits needs no unedited render
    s2.render()
    assert len(calls) == 2


@pytest.mark.parametrize("mode", ["changed", "moved"])
def test_reshape_and_full_export_in_changed_mode(engine, tmp_path, mode):
    from engine.reshape import MOVE_FRAC

    photo = textured(300, 9)
    s = EditSession(engine, engine.prepare(photo))
    s.set_composite(mode)
    before = s.render_full()
    s.paint_rect(40, 2, 60, 10, 14)
    s.color("skin", "#30ff30")
    crop, full = s.render(), s.render_full()
    region = engine.changed_region(s.prepared, s.state)
    assert np.any(crop[region] != s.prepared.crop[region])
    # 'changed' reaches the feather; 'moved' moves pixels up to 1.5 times the largest move further
    reach = 4 if mode == "changed" else (3 * (int(np.ceil(MOVE_FRAC * 64)) + 2)) // 2 + 4
    far = cv2.dilate(region.astype(np.uint8), np.ones((2 * reach + 1,) * 2, np.uint8)) == 0
    assert far.any() and np.array_equal(crop[far], s.prepared.crop[far])
    assert np.any(full != before)
    # the same crop handed back gives the same export
    assert np.array_equal(engine.compose_full(s.prepared, s.state, crop), full)
    # a crop from elsewhere is carried as its difference from the photo's crop
    s2 = EditSession(engine, s.prepared)
    s2.color("skin", "#30ff30")
    assert np.array_equal(engine.compose_full(s2.prepared, s2.state, s2.prepared.crop.copy()), photo)
    assert not np.array_equal(engine.compose_full(s2.prepared, s2.state, s2.render()), photo)


def test_state_accepts_raw_mode():
    st = EditState(mask=np.zeros((8, 8), np.uint8), composite="raw")
    assert EditState.from_json(st.to_json()).composite == "raw"
    with pytest.raises(StateError, match="raw"):
        EditState(mask=np.zeros((8, 8), np.uint8), composite="bogus")


def test_many_colour_edits_keep_the_unedited_render(session, engine, unedited_calls):
    calls = unedited_calls
    for i in range(70):  # more colour styles than the image keeps (64): only they are dropped
        session.color("skin", (100 + i, 80, 60))
        session.render()
    assert len(calls) == 1
    cache = session.prepared.cache
    assert len(cache.color_styles) == cache.color_styles.capacity and len(cache.unedited) == 1


def test_hair_painted_on_a_hairless_photo_takes_the_references_texture(engine):
    from engine.face import whole_image_alignment
    from tests.engine.session_fixtures import face_layout

    R = engine.resolution
    photo = textured(R, 11)
    bald = face_layout(R)
    bald[bald == 13] = 0  # the photo's parse has no hair
    prep = engine.prepare(photo, alignment=whole_image_alignment(photo, R), parsed_mask=bald)
    s = EditSession(engine, prep)
    s.transfer(textured(R, 12), [13])  # the reference (parsed by the layout parser) has hair
    s.paint_rect(20, 1, 44, 7, 13)  # hair painted above the forehead
    s.render()
    st = engine.renderer.model_state(prep, s.state)
    plan = engine.renderer.plan(prep, st)
    painted = (st.mask == 13) & (bald != 13)
    assert plan.from_reference is not None and plan.from_reference[painted].mean() > 0.9
    # without the reference's style there is nothing to take the texture from
    s2 = EditSession(engine, prep)
    s2.paint_rect(20, 1, 44, 7, 13)
    s2.render()
    plan2 = engine.renderer.plan(prep, engine.renderer.model_state(prep, s2.state))
    assert not plan2.from_reference.any()
