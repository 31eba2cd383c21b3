"""The photographic variant of the synthetic corpus: labels untouched, images more photo-like."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import training.data.synth_photo as sp
import training.data.synth_photo_cam as cam
from engine.labels import INDEX
from training.data.synth_photo import photo_rng, photographic, render_photo_face, wants_photo
from training.data.synth_photo_bg import background, pink_noise
from training.data.synthetic import render_face
from training.data.synthetic_faces import SyntheticFaces

SEEDS = range(12)


def _gray(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _inside(label: np.ndarray, cls: int, k: int = 5) -> np.ndarray:
    """Pixels of ``cls`` at least k//2 pixels from its border (so seams do not count)."""
    return cv2.erode((label == cls).astype(np.uint8), np.ones((k, k), np.uint8)) > 0


def _laplacian_var(img, mask) -> float:
    return float(cv2.Laplacian(_gray(img), cv2.CV_32F)[mask].var())


def _highpass_var(img, mask) -> float:
    g = _gray(img)
    return float((g - cv2.GaussianBlur(g, (0, 0), 1.5))[mask].var())


def _coherence(x: np.ndarray, mask: np.ndarray, sigma: float = 3.0) -> float:
    """Mean structure-tensor coherence in ``mask``: 1 for perfectly oriented texture, ~0 for isotropic."""
    gx, gy = cv2.Sobel(x, cv2.CV_32F, 1, 0), cv2.Sobel(x, cv2.CV_32F, 0, 1)
    jxx, jyy, jxy = (cv2.GaussianBlur(a, (0, 0), sigma) for a in (gx * gx, gy * gy, gx * gy))
    c = np.sqrt((jxx - jyy) ** 2 + 4 * jxy**2) / (jxx + jyy + 1e-9)
    return float(c[mask].mean())


@pytest.fixture
def only(monkeypatch):
    """Turn every element off except the named ones (all probabilities 0 or 1)."""

    def set_on(*names):
        for table in (sp.PHOTO_PROB, cam.CAMERA_PROB):
            for k in table:
                monkeypatch.setitem(table, k, 1.0 if k in names else 0.0)

    return set_on


@pytest.mark.parametrize("size", [128, 256])
def test_label_exact_and_image_changed(size):
    for s in (0, 3, 11):
        plain, photo = render_face(s, size), render_photo_face(s, size)
        assert photo.image.dtype == np.uint8 and photo.image.shape == (size, size, 3)
        assert photo.label.dtype == np.uint8 and photo.label.shape == (size, size)
        np.testing.assert_array_equal(photo.label, plain.label)
        assert np.abs(photo.image.astype(int) - plain.image).mean() > 2.0
        assert photo.attrs["photo"] is True and photo.attrs["photo_ops"]
        assert {k: v for k, v in photo.attrs.items() if not k.startswith("photo")} == plain.attrs
        assert photo.source == f"synthetic_photo:{s}"


def test_deterministic_per_seed():
    a, b = render_photo_face(5, 128), render_photo_face(5, 128)
    np.testing.assert_array_equal(a.image, b.image)
    assert a.attrs == b.attrs
    plain = render_face(5, 128)
    np.testing.assert_array_equal(photographic(plain.image, plain.label, 5), a.image)
    np.testing.assert_array_equal(photographic(plain.image, plain.label, photo_rng(5)), a.image)


def test_different_seeds_differ():
    plain = render_face(2, 128)
    outs = [photographic(plain.image, plain.label, s) for s in range(4)]
    for i in range(4):
        for j in range(i + 1, 4):
            assert np.abs(outs[i].astype(int) - outs[j]).mean() > 2.0
    assert not np.array_equal(render_photo_face(1, 128).image, render_photo_face(2, 128).image)


def test_inputs_untouched_and_checked():
    plain = render_face(4, 128)
    img, lab = plain.image.copy(), plain.label.copy()
    photographic(img, lab, 0)
    np.testing.assert_array_equal(img, plain.image)
    np.testing.assert_array_equal(lab, plain.label)
    with pytest.raises(ValueError):
        photographic(img.astype(np.float32), lab, 0)
    with pytest.raises(ValueError):
        photographic(img, lab[:64], 0)
    with pytest.raises(ValueError):
        photographic(img, lab, 0, size=256)
    np.testing.assert_array_equal(photographic(img, lab, 0, 128), photographic(img, lab, 0))


def test_background_gets_more_high_frequency_energy():
    ratios = []
    for s in SEEDS:
        plain, photo = render_face(s, 256), render_photo_face(s, 256)
        m = _inside(plain.label, INDEX["background"])
        ratios.append(_laplacian_var(photo.image, m) / _laplacian_var(plain.image, m))
    assert np.median(ratios) > 1.5, ratios


def test_background_layer_alone_replaces_label_zero(only):
    only("background")
    for s in (0, 1, 2):
        plain = render_face(s, 128)
        out = photographic(plain.image, plain.label, s)
        fg = _inside((plain.label > 0).astype(np.uint8), 1, 7)  # foreground, away from the soft seam
        np.testing.assert_array_equal(out[fg], plain.image[fg])
        bg = _inside(plain.label, 0, 3)
        assert np.abs(out[bg].astype(int) - plain.image[bg]).mean() > 5.0


def test_hair_gets_oriented_high_frequency_texture(only):
    ratios = []
    for s in SEEDS:
        plain, photo = render_face(s, 256), render_photo_face(s, 256)
        m = _inside(plain.label, INDEX["hair"])
        if m.sum() > 200:
            ratios.append(_highpass_var(photo.image, m) / _highpass_var(plain.image, m))
    assert len(ratios) >= 6 and np.median(ratios) > 1.3, ratios
    # with the hair element alone: more high-pass energy on every face, and the added texture is oriented
    only("hair")
    iso = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)
    coh, coh_iso = [], []
    for s in SEEDS:
        plain = render_face(s, 256)
        m = _inside(plain.label, INDEX["hair"], 7)
        if m.sum() < 200:
            continue
        out = photographic(plain.image, plain.label, s)
        assert _highpass_var(out, m) > 1.2 * _highpass_var(plain.image, m), s
        coh.append(_coherence(_gray(out) - _gray(plain.image), m))
        coh_iso.append(_coherence(iso, m))
    assert np.mean(coh) > 2.0 * np.mean(coh_iso), (coh, coh_iso)


def test_skin_texture_stays_inside_skin(only):
    only("skin")
    plain = render_face(1, 256)
    out = photographic(plain.image, plain.label, 3)
    skin = np.isin(plain.label, sp._SKIN)
    np.testing.assert_array_equal(out[~skin], plain.image[~skin])
    m = _inside(plain.label, INDEX["skin"])
    assert _highpass_var(out, m) > _highpass_var(plain.image, m)


def test_pink_noise_and_background_shapes():
    rng = np.random.default_rng(0)
    f = pink_noise(rng, 128)
    assert f.shape == (128, 128) and f.dtype == np.float32
    assert abs(float(f.mean())) < 1e-3 and abs(float(f.std()) - 1.0) < 1e-2
    # roughly 1/f: the power per octave band changes by well under the 4x per octave of white noise
    p = np.abs(np.fft.fft2(f)) ** 2
    r = np.hypot(*np.meshgrid(np.fft.fftfreq(128), np.fft.fftfreq(128)))
    band = [p[(r >= lo) & (r < 2 * lo)].sum() for lo in (0.02, 0.04, 0.08)]
    assert max(band) / min(band) < 3.0, band
    bg = background(np.random.default_rng(1), 96)
    assert bg.shape == (96, 96, 3) and bg.dtype == np.float32 and 0.0 <= bg.min() and bg.max() <= 1.0


def test_synthetic_faces_photo_flag():
    plain = SyntheticFaces(64, 4, "test")
    photo = SyntheticFaces(64, 4, "test", photo=True)
    for i in range(4):
        a, b = plain[i], photo[i]
        np.testing.assert_array_equal(a.image, render_face(i, 64).image)
        assert "photo" not in a.attrs and b.attrs["photo"] is True
        np.testing.assert_array_equal(a.label, b.label)
    half = SyntheticFaces(64, 40, "test", photo=0.5)
    flags = [bool(half[i].attrs.get("photo")) for i in range(40)]
    assert flags == [wants_photo(i, 0.5) for i in range(40)]
    assert 8 <= sum(flags) <= 32
    with pytest.raises(ValueError):
        SyntheticFaces(64, 4, "test", photo=1.5)
