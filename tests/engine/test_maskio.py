"""Label masks: ids 0..18 round-trip; colour, out-of-range, wrong-size and malformed masks are refused."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from PIL import Image

from engine import labels
from engine.imageio import ImageError, MaskError, load_mask, save_mask, validate_mask


def _ids(h=32, w=40) -> np.ndarray:
    return (np.arange(h * w).reshape(h, w) % labels.NUM_CLASSES).astype(np.uint8)


def _expect_load(path, *words, shape=None):
    with pytest.raises(MaskError) as ei:
        load_mask(path, shape)
    msg = str(ei.value)
    assert os.path.basename(str(path)) in msg, msg
    for w in words:
        assert w in msg.lower(), msg
    return msg


def _expect_valid(arr, *words, shape=None):
    with pytest.raises(MaskError) as ei:
        validate_mask(arr, shape)
    msg = str(ei.value)
    for w in words:
        assert w in msg.lower(), msg


# ------------------------------------------------------------------------------------------- good masks
def test_round_trip(tmp_path):
    m = _ids()
    save_mask(tmp_path / "m.png", m)
    with Image.open(tmp_path / "m.png") as im:
        assert im.mode == "L"  # 8-bit single channel on disk
    got = load_mask(tmp_path / "m.png", shape=m.shape)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, m)
    assert os.listdir(tmp_path) == ["m.png"]


def test_gray_rgb_accepted(tmp_path):
    m = _ids()
    Image.fromarray(np.dstack([m] * 3)).save(tmp_path / "g.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "g.png"), m)


def test_palette_colours_mapped_back(tmp_path):
    m = _ids()
    Image.fromarray(labels.colorize(m)).save(tmp_path / "c.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "c.png"), m)


def test_palette_index_png(tmp_path):
    m = _ids()
    im = Image.fromarray(m, "P")
    im.putpalette(list(np.random.default_rng(0).integers(0, 256, 768)))
    im.save(tmp_path / "p.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "p.png"), m)


def test_16bit_mask_with_small_values(tmp_path):
    m = _ids()
    cv2.imwrite(str(tmp_path / "w.png"), m.astype(np.uint16))
    np.testing.assert_array_equal(load_mask(tmp_path / "w.png"), m)


def test_validate_accepts_and_copies():
    m = _ids()
    out = validate_mask(m)
    assert out is not m and out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(validate_mask(m.astype(np.int64)), m)
    np.testing.assert_array_equal(validate_mask(m.astype(np.float32)), m)
    np.testing.assert_array_equal(validate_mask(m > 5), (m > 5).astype(np.uint8))
    np.testing.assert_array_equal(validate_mask(np.asfortranarray(m), m.shape), m)


# -------------------------------------------------------------------------------------------- bad files
def test_wrong_size(tmp_path):
    save_mask(tmp_path / "m.png", _ids(32, 40))
    _expect_load(tmp_path / "m.png", "40×32", "expected 256×256", shape=(256, 256))


def test_value_too_large(tmp_path):
    m = _ids()
    m[3, 4] = 200
    Image.fromarray(m, "L").save(tmp_path / "big.png")
    _expect_load(tmp_path / "big.png", "200", "0..18")


def test_arbitrary_colour_mask(tmp_path):
    rgb = np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    _expect_load(tmp_path / "photo.png", "colour", "palette")


def test_16bit_mask_with_large_values(tmp_path):
    cv2.imwrite(str(tmp_path / "w16.png"), _ids().astype(np.uint16) * 1000)
    _expect_load(tmp_path / "w16.png", "0..18")


def test_empty_mask_file(tmp_path):
    (tmp_path / "e.png").write_bytes(b"")
    _expect_load(tmp_path / "e.png", "empty")


def test_corrupt_mask_file(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    _expect_load(tmp_path / "bad.png")


def test_missing_and_folder(tmp_path):
    _expect_load(tmp_path / "none.png", "does not exist")
    (tmp_path / "dir.png").mkdir()
    _expect_load(tmp_path / "dir.png", "folder")


def test_mask_errors_are_image_and_value_errors(tmp_path):
    with pytest.raises(ValueError):
        load_mask(tmp_path / "none.png")
    assert issubclass(MaskError, ImageError) and issubclass(MaskError, ValueError)


# ------------------------------------------------------------------------------------ bad arrays
def test_nan_mask():
    m = _ids().astype(np.float32)
    m[0, 0] = np.nan
    _expect_valid(m, "nan")


def test_negative_mask():
    m = _ids().astype(np.int32)
    m[1, 1] = -3
    _expect_valid(m, "negative")


def test_three_d_mask():
    _expect_valid(np.zeros((8, 8, 3), np.uint8), "2-d", "(8, 8, 3)")


def test_float_non_integer_mask():
    _expect_valid(np.full((8, 8), 2.5), "non-integer")


def test_out_of_range_int_mask():
    m = _ids().astype(np.int64)
    m[0, 0] = 19
    _expect_valid(m, "19")


def test_wrong_dtype_and_type():
    _expect_valid(np.zeros((4, 4), np.complex64), "dtype")
    _expect_valid(np.array([["a"]]), "dtype")
    _expect_valid([[0, 1], [2, 3]], "numpy array")
    _expect_valid(np.zeros((0, 5), np.uint8), "empty")


def test_wrong_shape_array():
    _expect_valid(_ids(), "expected 64×64", shape=(64, 64))


def test_save_mask_refuses_and_writes_nothing(tmp_path):
    bad = _ids()
    bad[0, 0] = 99
    with pytest.raises(MaskError, match="99"):
        save_mask(tmp_path / "bad.png", bad)
    with pytest.raises(MaskError, match=r"\.png"):
        save_mask(tmp_path / "mask.jpg", _ids())
    with pytest.raises(MaskError, match="does not exist"):
        save_mask(tmp_path / "no" / "m.png", _ids())
    assert os.listdir(tmp_path) == []
