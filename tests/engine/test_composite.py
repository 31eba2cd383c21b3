"""engine.composite: feathering, crop blending and paste-back (bit-exact where the weight is 0)."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from engine.composite import blend_crop, feather, paste_back, warp_affine
from engine.face import manual_alignment


def smooth_photo(h, w, seed=0):
    """A smooth, colourful photo (low frequencies only) so resampling error stays small."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


# -------------------------------------------------------------------------------------------- feather
def test_feather_extends_outside_and_keeps_region_full():
    region = np.zeros((64, 64), bool)
    region[20:40, 20:40] = True
    w = feather(region, 6.0)
    assert w.dtype == np.float32 and w.shape == region.shape
    assert (w[region] == 1.0).all()
    assert 0.0 <= w.min() and w.max() <= 1.0
    assert w[30, 40 + 2] > w[30, 40 + 4] > 0.0  # eases out...
    assert w[30, 40 + 6] == 0.0 and w[0, 0] == 0.0  # ...and is exactly 0 from `radius` on
    assert (w[:, :14] == 0).all()


def test_feather_edge_cases():
    region = np.zeros((16, 16), np.uint8)
    assert (feather(region, 5) == 0).all()
    region[4:8, 4:8] = 3  # any non-zero value is "inside"
    np.testing.assert_array_equal(feather(region, 0), region.astype(bool).astype(np.float32))
    with pytest.raises(ValueError, match="2-D"):
        feather(np.zeros((4, 4, 3), bool), 2)


# ----------------------------------------------------------------------------------------- blend_crop
def test_blend_crop():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    w = np.zeros((32, 32), np.float32)
    w[:, 16:] = 1.0
    w[:, 10:16] = 0.5
    out = blend_crop(a, b, w)
    np.testing.assert_array_equal(out[:, :10], a[:, :10])
    np.testing.assert_array_equal(out[:, 16:], b[:, 16:])
    mid = (a[:, 10:16].astype(float) + b[:, 10:16]) / 2
    assert np.abs(out[:, 10:16] - mid).max() <= 0.5 + 1e-6
    np.testing.assert_array_equal(blend_crop(a, b, np.zeros((32, 32), bool)), a)
    with pytest.raises(ValueError, match="weight"):
        blend_crop(a, b, np.ones((16, 16)))
    with pytest.raises(ValueError, match="NaN"):
        blend_crop(a, b, np.full((32, 32), np.nan))
    with pytest.raises(ValueError, match="equal-size"):
        blend_crop(a, b[:16], w)


# ---------------------------------------------------------------------------------------- paste_back
def test_round_trip_close_inside_and_exact_outside():
    photo = smooth_photo(480, 640)
    al = manual_alignment(photo, (300, 220), 200, 256)
    weight = np.ones((256, 256), np.float32)
    out = paste_back(photo, al.crop, weight, al.matrix)
    assert out.shape == photo.shape and out.dtype == np.uint8 and out is not photo
    changed = np.any(out != photo, axis=2)
    ys, xs = np.nonzero(changed)
    # nothing outside the crop's footprint (x 200..400, y 120..320) moved, bit for bit
    assert xs.min() >= 199 and xs.max() <= 400 and ys.min() >= 119 and ys.max() <= 320
    inner = (slice(125, 315), slice(205, 395))
    diff = np.abs(out[inner].astype(int) - photo[inner])
    assert diff.mean() < 1.0 and diff.max() <= 6


def test_zero_weight_is_bit_exact_and_input_untouched():
    photo = smooth_photo(200, 300, seed=1)
    keep = photo.copy()
    al = manual_alignment(photo, (150, 100), 120, 64)
    garbage = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    out = paste_back(photo, garbage, np.zeros((64, 64), np.float32), al.matrix)
    np.testing.assert_array_equal(out, photo)
    np.testing.assert_array_equal(photo, keep)


def test_partial_weight_only_touches_its_footprint():
    photo = smooth_photo(300, 400, seed=2)
    al = manual_alignment(photo, (200, 150), 128, 128, angle=20)
    region = np.zeros((128, 128), bool)
    region[40:80, 40:80] = True
    w = feather(region, 4)
    result = np.full((128, 128, 3), 255, np.uint8)
    out = paste_back(photo, result, w, al.matrix)
    # warp the weight ourselves: wherever it is 0 the photo must be untouched
    w_photo = cv2.warpAffine(w, al.inverse, (400, 300), flags=cv2.INTER_LINEAR, borderValue=0)
    zero = w_photo == 0
    np.testing.assert_array_equal(out[zero], photo[zero])
    full = w_photo > 0.999
    assert full.any() and (out[full] >= 254).all()


def test_crop_hanging_off_the_photo():
    photo = smooth_photo(100, 120, seed=3)
    al = manual_alignment(photo, (5, 95), 80, 64)  # mostly outside, bottom-left corner
    out = paste_back(photo, np.zeros((64, 64, 3), np.uint8), np.ones((64, 64)), al.matrix)
    assert out.shape == photo.shape
    assert (out[70:, :30] == 0).all()  # inside the part of the crop that overlaps the photo
    np.testing.assert_array_equal(out[:50], photo[:50])
    np.testing.assert_array_equal(out[:, 50:], photo[:, 50:])
    far = manual_alignment(photo, (1000, 1000), 50, 64)  # entirely outside: nothing changes
    np.testing.assert_array_equal(paste_back(photo, far.crop, np.ones((64, 64)), far.matrix), photo)


def test_large_photo_pastes_back_fast():
    photo = np.zeros((3000, 4000, 3), np.uint8)
    photo[:] = (90, 120, 150)
    photo[::7] = 10  # some detail that must survive outside the face
    al = manual_alignment(photo, (2000, 1400), 1400, 256)
    region = np.zeros((256, 256), bool)
    region[60:200, 60:200] = True
    w = feather(region, 8)
    result = np.full((256, 256, 3), 200, np.uint8)
    best = 1e9
    for _ in range(2):
        t = time.perf_counter()
        out = paste_back(photo, result, w, al.matrix)
        best = min(best, time.perf_counter() - t)
    print(f"paste back into 4000x3000: {best * 1000:.0f} ms")
    assert out.shape == (3000, 4000, 3)
    np.testing.assert_array_equal(out[:, :1200], photo[:, :1200])
    assert (out[1400, 2000] == 200).all()
    assert best < 1.5  # ~0.1 s measured on the 2-core dev box; generous for a loaded machine


def test_paste_back_rejects_bad_input():
    photo = smooth_photo(64, 64)
    crop = np.zeros((32, 32, 3), np.uint8)
    m = np.array([[0.5, 0, 0], [0, 0.5, 0]])
    with pytest.raises(ValueError, match="weight"):
        paste_back(photo, crop, np.ones((16, 16)), m)
    with pytest.raises(ValueError, match="singular"):
        paste_back(photo, crop, np.ones((32, 32)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="2×3"):
        paste_back(photo, crop, np.ones((32, 32)), np.eye(3))
    with pytest.raises(ValueError, match="crop result"):
        paste_back(photo, crop[:, :16], np.ones((32, 16)), m)
    with pytest.raises(ValueError, match="photo"):
        paste_back(photo.astype(np.float32), crop, np.ones((32, 32)), m)


# ----------------------------------------------------------------------------------------- warp_affine
def test_warp_affine_does_not_alias_when_shrinking():
    board = ((np.indices((512, 512)).sum(0) % 2) * 255).astype(np.uint8)
    m = np.array([[1 / 8, 0, 0], [0, 1 / 8, 0]])
    small = warp_affine(board, m, (64, 64))
    assert abs(float(small[4:-4, 4:-4].mean()) - 127.5) < 3 and small[4:-4, 4:-4].std() < 3
