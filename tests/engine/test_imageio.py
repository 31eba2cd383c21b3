"""engine.imageio: photos in every odd format load right; every bad file fails clearly; writes are atomic."""

from __future__ import annotations

import io
import os
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from engine import imageio
from engine.imageio import ImageError, load_image, save_image


def _gradient(h=48, w=64) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.dstack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (w + h - 2)]).astype(np.uint8)


def _write(path, img: Image.Image, fmt=None, **kw):
    img.save(path, format=fmt, **kw)
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def _forged_png(width: int, height: int) -> bytes:
    """A tiny PNG whose (valid-CRC) IHDR claims width×height RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\x00" * 30)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _no_leftovers(folder, keep=()):
    left = sorted(n for n in os.listdir(folder) if n not in keep)
    assert left == [], f"partial/temporary files left behind: {left}"


# ------------------------------------------------------------------------------------- bad input: load
def _expect(path, *words, **kw):
    with pytest.raises(ImageError) as ei:
        load_image(path, **kw)
    msg = str(ei.value)
    assert os.path.basename(str(path)) in msg, msg
    for w in words:
        assert w in msg.lower(), msg
    return msg


def test_corrupt_bytes(tmp_path):
    p = tmp_path / "noise.jpg"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    _expect(p, "not an image")


def test_truncated_jpeg(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(_gradient(200, 240)).save(buf, "JPEG", quality=90)
    p = tmp_path / "cut.jpg"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) * 6 // 10])
    _expect(p, "truncated")


def test_truncated_png(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (120, 120, 3), dtype=np.uint8)).save(buf, "PNG")
    p = tmp_path / "cut.png"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    _expect(p, "truncated")


def test_png_with_damaged_data(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(_gradient(64, 64)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    mid = len(data) // 2
    data[mid : mid + 16] = b"\xff" * 16
    p = tmp_path / "damaged.png"
    p.write_bytes(bytes(data))
    _expect(p)  # ImageError naming the file (corrupt / CRC)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    _expect(p, "empty")


def test_text_named_png(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("this is not a picture\n" * 10)
    _expect(p, "not an image")


def test_jpeg_header_only(tmp_path):
    p = tmp_path / "header.jpg"
    p.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 20)
    _expect(p)


def test_one_pixel_image(tmp_path):
    p = _write(tmp_path / "dot.png", Image.new("RGB", (1, 1)))
    _expect(p, "too small to contain a face")


def test_thin_image(tmp_path):
    p = _write(tmp_path / "thin.png", Image.new("RGB", (200, 15)))
    _expect(p, "too small", "200×15")


def test_forged_huge_header(tmp_path):
    p = tmp_path / "bomb.png"
    p.write_bytes(_forged_png(20000, 20000))
    assert p.stat().st_size < 200
    _expect(p, "megapixels")


def test_max_pixels_checked_from_header(tmp_path):
    p = _write(tmp_path / "ok.png", Image.fromarray(_gradient()))
    msg = _expect(p, "64×48", "megapixels", max_pixels=1000)
    assert "refusing" in msg


def test_missing_file(tmp_path):
    _expect(tmp_path / "nowhere.jpg", "does not exist")


def test_directory_instead_of_file(tmp_path):
    d = tmp_path / "folder.png"
    d.mkdir()
    _expect(d, "folder")


def test_unsupported_format(tmp_path):
    p = _write(tmp_path / "picture.ppm", Image.fromarray(_gradient()), "PPM")
    _expect(p, "ppm")


# ------------------------------------------------------------------------------------- bad input: save
def _expect_save(path, rgb, *words, **kw):
    with pytest.raises(ImageError) as ei:
        save_image(path, rgb, **kw)
    msg = str(ei.value)
    for w in words:
        assert w in msg.lower(), msg
    return msg


def test_save_unknown_suffix(tmp_path):
    _expect_save(tmp_path / "out.xyz", _gradient(), "unknown file type", ".xyz")
    _expect_save(tmp_path / "out", _gradient(), "no suffix")
    _no_leftovers(tmp_path)


def test_save_missing_folder(tmp_path):
    _expect_save(tmp_path / "missing" / "out.png", _gradient(), "does not exist")
    _no_leftovers(tmp_path)


def test_save_parent_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    _expect_save(tmp_path / "file" / "out.png", _gradient(), "does not exist")
    _no_leftovers(tmp_path, keep={"file"})


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores folder permissions")
def test_save_unwritable_folder(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        _expect_save(d / "out.png", _gradient(), "not writable")
        assert os.listdir(d) == []
    finally:
        d.chmod(0o700)


def test_save_bad_arrays(tmp_path):
    _expect_save(tmp_path / "a.png", _gradient().astype(np.float32), "uint8")
    _expect_save(tmp_path / "b.png", _gradient()[:, :, 0], "h×w×3")
    _expect_save(tmp_path / "c.jpg", _gradient(), "quality", quality=0)
    _expect_save(tmp_path / "d.png", _gradient(), "alpha", alpha=np.zeros((3, 3), np.uint8))
    _no_leftovers(tmp_path)


def test_save_onto_directory(tmp_path):
    (tmp_path / "out.png").mkdir()
    _expect_save(tmp_path / "out.png", _gradient(), "folder")
    assert os.listdir(tmp_path) == ["out.png"]


def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "photo.png"
    save_image(target, _gradient())
    before = target.read_bytes()

    def broken_save(self, fp, format=None, **params):
        fp.write(b"\x89PNG partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    _expect_save(target, 255 - _gradient(), "no space left")
    assert target.read_bytes() == before
    _no_leftovers(tmp_path, keep={"photo.png"})


# ------------------------------------------------------------------------------- good odd inputs load
def test_16bit_gray_png_scaled(tmp_path):
    vals = (np.arange(48 * 64).reshape(48, 64) % 256).astype(np.uint16) * 257
    vals[0, 0] = 65535
    p = tmp_path / "g16.png"
    assert cv2.imwrite(str(p), vals)
    li = load_image(p)
    assert li.bit_depth == 16 and li.mode.startswith("I")
    assert li.rgb.dtype == np.uint8 and li.rgb.shape == (48, 64, 3) and li.rgb.flags.c_contiguous
    np.testing.assert_array_equal(li.rgb[:, :, 0], (vals // 257).astype(np.uint8))
    assert (li.rgb[:, :, 0] == li.rgb[:, :, 2]).all()


def test_16bit_rgba_png_scaled(tmp_path):
    rgb8 = _gradient()
    bgra16 = np.dstack([rgb8[:, :, ::-1], np.full(rgb8.shape[:2], 128, np.uint8)]).astype(np.uint16) * 257
    p = tmp_path / "c16.png"
    assert cv2.imwrite(str(p), bgra16)
    li = load_image(p)
    assert li.bit_depth == 16
    np.testing.assert_array_equal(li.rgb, rgb8)
    np.testing.assert_array_equal(li.alpha, np.full(rgb8.shape[:2], 128, np.uint8))


def test_16bit_tiff(tmp_path):
    rgb8 = _gradient()
    p = tmp_path / "c16.tif"
    assert cv2.imwrite(str(p), rgb8[:, :, ::-1].astype(np.uint16) * 257)
    li = load_image(p)
    assert li.bit_depth == 16 and li.format == "TIFF"
    np.testing.assert_array_equal(li.rgb, rgb8)


def test_cmyk_jpeg(tmp_path):
    cmyk = np.zeros((32, 64, 4), np.uint8)
    cmyk[:, 32:, 0] = 255  # right half pure cyan, left half no ink (white)
    p = _write(tmp_path / "cmyk.jpg", Image.fromarray(cmyk, "CMYK"), "JPEG", quality=95)
    li = load_image(p)
    assert li.mode == "CMYK" and li.rgb.shape == (32, 64, 3)
    assert np.abs(li.rgb[:, :24].astype(int) - 255).max() < 12
    assert np.abs(li.rgb[:, 40:].astype(int) - [0, 255, 255]).max() < 12


def test_palette_png_with_transparency(tmp_path):
    idx = np.zeros((32, 32), np.uint8)
    idx[8:24, 8:24] = 1
    im = Image.fromarray(idx, "P")
    im.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    p = _write(tmp_path / "pal.png", im, transparency=0)
    li = load_image(p)
    assert li.mode == "P"
    assert (li.alpha[idx == 0] == 0).all() and (li.alpha[idx == 1] == 255).all()
    assert (li.rgb[idx == 1] == [200, 100, 50]).all()
    assert (li.rgb[idx == 0] == [10, 20, 30]).all()  # colour kept as stored, not premultiplied


def test_grayscale_and_la(tmp_path):
    g = _gradient()[:, :, 0]
    li = load_image(_write(tmp_path / "g.png", Image.fromarray(g, "L")))
    assert li.alpha is None and li.bit_depth == 8
    np.testing.assert_array_equal(li.rgb, np.repeat(g[:, :, None], 3, 2))
    a = np.full_like(g, 77)
    li = load_image(_write(tmp_path / "la.png", Image.fromarray(np.dstack([g, a]), "LA")))
    assert li.mode == "LA"
    np.testing.assert_array_equal(li.rgb[:, :, 1], g)
    np.testing.assert_array_equal(li.alpha, a)


def test_bilevel(tmp_path):
    b = _gradient()[:, :, 0] > 128
    li = load_image(_write(tmp_path / "b.png", Image.fromarray(b).convert("1")))
    assert li.bit_depth == 1
    np.testing.assert_array_equal(li.rgb[:, :, 0], np.where(b, 255, 0))


def test_exif_rotated_jpeg(tmp_path):
    rgb = np.zeros((20, 40, 3), np.uint8)  # stored 40 wide, 20 high
    rgb[:5, :5] = (255, 0, 0)  # red marker top-left
    im = Image.fromarray(rgb)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    p = _write(tmp_path / "rot.jpg", im, "JPEG", quality=95, exif=exif.tobytes())
    li = load_image(p)
    assert li.exif_rotated and li.original_size == (40, 20)
    assert li.rgb.shape == (40, 20, 3)
    assert li.rgb[1, -2, 0] > 200 and li.rgb[1, 1, 0] < 60  # marker moved to the top-right


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow(tmp_path, orientation):
    rgb = np.random.default_rng(orientation).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    im = Image.fromarray(rgb)
    exif = im.getexif()
    exif[0x0112] = orientation
    p = _write(tmp_path / "o.png", im, "PNG", exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(p)).convert("RGB"))
    li = load_image(p)
    np.testing.assert_array_equal(li.rgb, expected)
    assert li.exif_rotated == (orientation != 1)


@pytest.mark.parametrize("suffix", [".webp", ".bmp", ".tif", ".png"])
def test_lossless_round_trip(tmp_path, suffix):
    rgb = _gradient()
    p = tmp_path / f"x{suffix}"
    save_image(p, rgb, quality=100)
    li = load_image(p)
    np.testing.assert_array_equal(li.rgb, rgb)
    assert li.format == {".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF", ".png": "PNG"}[suffix]


def test_alpha_round_trip_and_jpeg(tmp_path):
    rgb = _gradient()
    alpha = (np.arange(48 * 64).reshape(48, 64) % 256).astype(np.uint8)
    save_image(tmp_path / "a.png", rgb, alpha=alpha)
    li = load_image(tmp_path / "a.png")
    np.testing.assert_array_equal(li.rgb, rgb)
    np.testing.assert_array_equal(li.alpha, alpha)
    save_image(tmp_path / "a.jpg", rgb, quality=95, alpha=alpha)  # JPEG has no alpha: dropped
    li = load_image(tmp_path / "a.jpg")
    assert li.alpha is None and np.abs(li.rgb.astype(int) - rgb).mean() < 3


def test_saved_file_has_normal_permissions(tmp_path):
    save_image(tmp_path / "p.png", _gradient())
    umask = os.umask(0o022)
    os.umask(umask)
    assert (tmp_path / "p.png").stat().st_mode & 0o777 == 0o666 & ~umask
    _no_leftovers(tmp_path, keep={"p.png"})


def test_loaded_image_from_array():
    li = imageio.LoadedImage.from_array(_gradient())
    assert li.size == (64, 48) and li.alpha is None
    with pytest.raises(ImageError):
        imageio.LoadedImage.from_array(np.zeros((4, 4), np.uint8))
