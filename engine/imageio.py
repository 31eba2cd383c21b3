"""Reading and writing photos and label masks, with clear errors for every bad file.

Photos come in as :class:`LoadedImage`: RGB uint8 (EXIF orientation applied), alpha kept apart, and what
the file was (format, mode, bit depth, stored size). 16-bit files are scaled to 8 bits for editing;
grayscale, palette, CMYK and alpha images are all turned into plain RGB. The pixel count is checked from
the header before any pixel is decoded, so a forged "20000×20000" header costs nothing.

Writes are atomic (:func:`engine.atomicio.atomic_write`): a temporary file in the target folder, ``fsync``,
then ``os.replace``; on any failure the temporary file is removed and the target is left as it was.

Masks (8-bit PNGs of class ids 0..18) are read and written by the functions re-exported from
:mod:`engine.maskio`.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from engine.atomicio import atomic_write
from engine.maskio import (  # noqa: F401  (mask IO and shared helpers live there; re-exported here)
    ImageError,
    MaskError,
    check_readable,
    load_mask,
    read_mask,
    save_mask,
    validate_mask,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MIN_SIDE",
    "ImageError",
    "LoadedImage",
    "MaskError",
    "load_image",
    "load_mask",
    "read_mask",
    "save_image",
    "save_mask",
    "validate_mask",
]

#: Largest photo we decode by default (100 megapixels: a 12 MP photo is 12).
DEFAULT_MAX_PIXELS = 100_000_000
#: Anything smaller than this on either side cannot hold a face worth editing.
MIN_SIDE = 16

# Pillow's own decompression-bomb guard: warn above this, refuse above twice this. Our header check in
# load_image is the real limit; this only keeps Pillow from refusing images below our limit.
Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS or 0, DEFAULT_MAX_PIXELS)

#: Formats we open (Pillow's names). MPO is what Pillow calls many camera JPEGs.
READ_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "BMP", "DIB", "TIFF", "GIF"}
#: Suffix -> Pillow format for writing.
WRITE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
_EXIF_ORIENTATION = 0x0112


@dataclass
class LoadedImage:
    """A decoded photo. ``rgb`` is what the editor works on; the rest describes the file."""

    rgb: np.ndarray  # uint8 H×W×3, C-contiguous, EXIF orientation applied
    alpha: np.ndarray | None = None  # uint8 H×W (same orientation) or None
    path: Path | None = None
    format: str = "RAW"  # JPEG, PNG, WEBP, BMP, TIFF, GIF; RAW for arrays
    mode: str = "RGB"  # Pillow's mode of the file (RGB, RGBA, P, L, LA, I;16, CMYK, ...)
    bit_depth: int = 8  # bits per channel in the file (1, 8, 16 or 32)
    original_size: tuple[int, int] = (0, 0)  # (width, height) as stored, before EXIF rotation
    exif_rotated: bool = False  # True when an EXIF orientation tag changed the pixels
    icc_profile: bytes | None = None  # the file's colour profile, kept for export (not applied)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of ``rgb``."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])

    @classmethod
    def from_array(cls, rgb: np.ndarray, alpha: np.ndarray | None = None) -> LoadedImage:
        """Wrap an in-memory RGB uint8 array (no file)."""
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ImageError(f"an image array must be H×W×3 uint8, got {rgb.dtype} {rgb.shape}")
        h, w = rgb.shape[:2]
        if alpha is not None:
            alpha = np.asarray(alpha)
            if alpha.shape != (h, w) or alpha.dtype != np.uint8:
                raise ImageError(f"alpha must be {h}×{w} uint8, got {alpha.dtype} {alpha.shape}")
            alpha = np.ascontiguousarray(alpha)
        return cls(rgb=np.ascontiguousarray(rgb), alpha=alpha, original_size=(w, h))


# ----------------------------------------------------------------------------------------------- load
def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an H×W(×C) array, like PIL.ImageOps.exif_transpose."""
    if orientation == 2:
        a = a[:, ::-1]
    elif orientation == 3:
        a = a[::-1, ::-1]
    elif orientation == 4:
        a = a[::-1]
    elif orientation == 5:
        a = a.swapaxes(0, 1)
    elif orientation == 6:
        a = np.rot90(a, -1)
    elif orientation == 7:
        a = np.rot90(a, 2).swapaxes(0, 1)
    elif orientation == 8:
        a = np.rot90(a, 1)
    return np.ascontiguousarray(a)


def _to_8bit(a: np.ndarray, bits: int) -> np.ndarray:
    """Scale integer samples of ``bits`` bits to 0..255 (65535 -> 255, 257*k -> k)."""
    if bits <= 8:
        return a.astype(np.uint8)
    top = float((1 << bits) - 1)
    return np.rint(a.astype(np.float64) * (255.0 / top)).clip(0, 255).astype(np.uint8)


def _wide_gray(im: Image.Image) -> tuple[np.ndarray, int]:
    """Pillow I;16* / I / F images -> (uint8 gray, bit depth)."""
    a = np.asarray(im)
    if im.mode == "F":
        a = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        if a.size and a.max() <= 1.0:
            a = a * 255.0
        return np.rint(a).clip(0, 255).astype(np.uint8), 32
    if im.mode.startswith("I;16"):
        return _to_8bit(a.astype(np.uint32), 16), 16
    a = a.astype(np.int64).clip(0, None)  # mode "I": 32-bit ints, usually 16-bit data
    if a.size == 0 or a.max() <= 65535:
        return _to_8bit(a, 16), 16
    return np.rint(a * (255.0 / float(a.max()))).astype(np.uint8), 32


def _is_wide_colour(im: Image.Image) -> bool:
    """A 16-bit-per-channel colour PNG/TIFF (Pillow would silently cut it to 8 bits)."""
    if im.mode not in ("RGB", "RGBA", "LA", "RGBX"):
        return False
    return any(";16" in str(getattr(t, "args", t[3] if len(t) > 3 else "")) for t in im.tile)


def _decode_cv2_unchanged(data: bytes) -> np.ndarray | None:
    flags = cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION
    return cv2.imdecode(np.frombuffer(data, np.uint8), flags)


def _from_cv2_wide(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """A cv2 16-bit decode (1, 2, 3 or 4 channels, BGR order) -> (rgb uint8, alpha uint8|None)."""
    bits = 16 if arr.dtype == np.uint16 else 8
    if arr.ndim == 2:
        arr = arr[:, :, None]
    ch = arr.shape[2]
    if ch == 1:
        return np.repeat(_to_8bit(arr, bits), 3, axis=2), None
    if ch == 2:
        g = _to_8bit(arr[:, :, :1], bits)
        return np.repeat(g, 3, axis=2), _to_8bit(arr[:, :, 1], bits)
    rgb = _to_8bit(arr[:, :, 2::-1], bits)
    alpha = _to_8bit(arr[:, :, 3], bits) if ch >= 4 else None
    return rgb, alpha


def _jpeg_looks_complete(data: bytes) -> bool:
    """An end-of-image marker follows the last start-of-scan (cheap truncation check for the fast path)."""
    sos = data.rfind(b"\xff\xda")
    return sos >= 0 and data.find(b"\xff\xd9", sos) >= 0


def _decode_pillow(im: Image.Image) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Decode a Pillow image of any supported mode -> (rgb, alpha|None, bit depth)."""
    mode = im.mode
    bits = 8
    alpha = None
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        g, bits = _wide_gray(im)
        return np.repeat(g[:, :, None], 3, axis=2), None, bits
    if mode == "1":
        return np.asarray(im.convert("RGB")), None, 1
    if mode == "P":
        if "transparency" in im.info:
            im = im.convert("RGBA")
        else:
            im = im.convert("RGB")
    elif mode in ("PA", "RGBa", "La"):
        im = im.convert("RGBA")
    if im.mode == "LA":
        a = np.asarray(im)
        return np.repeat(a[:, :, :1], 3, axis=2), np.ascontiguousarray(a[:, :, 1]), bits
    if im.mode == "L":
        a = np.asarray(im)
        return np.repeat(a[:, :, None], 3, axis=2), None, bits
    if im.mode == "RGBA":
        a = np.asarray(im)
        return np.ascontiguousarray(a[:, :, :3]), np.ascontiguousarray(a[:, :, 3]), bits
    if im.mode != "RGB":
        im = im.convert("RGB")  # CMYK, YCbCr, RGBX, HSV...
    return np.asarray(im), alpha, bits


def load_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Open a JPEG, PNG, WebP, BMP, TIFF (or GIF) photo.

    Raises :class:`ImageError` naming the file and the problem for anything we cannot use: missing,
    empty, not an image, truncated, corrupt, too large (checked from the header before decoding) or
    too small (under 16×16) to contain a face.
    """
    p = Path(path)
    size = check_readable(p, "image")
    if max_pixels > (Image.MAX_IMAGE_PIXELS or 0):
        Image.MAX_IMAGE_PIXELS = int(max_pixels)  # only ever raised, never lowered
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ImageError(f"cannot read {p}: {e.strerror or e}") from None
    if not data or len(data) != size:
        raise ImageError(f"{p} changed while it was being read (or is empty)")
    try:
        im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        raise ImageError(
            f"{p} is larger than the limit of {max_pixels / 1e6:.0f} megapixels; refusing to decode it ({e})"
        ) from None
    except Image.UnidentifiedImageError:
        raise ImageError(
            f"{p} is not an image we can read (expected JPEG, PNG, WebP, BMP or TIFF; "
            f"the file starts with {data[:8]!r})"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"{p} is corrupt: {e}") from None
    fmt = (im.format or "").upper()
    if fmt not in READ_FORMATS:
        raise ImageError(f"{p} is a {fmt or 'unknown'} file; FacePaint reads JPEG, PNG, WebP, BMP and TIFF")
    w, h = im.size
    if w * h > max_pixels:
        raise ImageError(
            f"{p} claims to be {w}×{h} pixels ({w * h / 1e6:.0f} megapixels), more than the limit of "
            f"{max_pixels / 1e6:.0f} megapixels; refusing to decode it"
        )
    if w < MIN_SIDE or h < MIN_SIDE:
        raise ImageError(
            f"{p} is {w}×{h} pixels, too small to contain a face (minimum {MIN_SIDE}×{MIN_SIDE})"
        )
    if fmt == "PNG":  # checks every chunk's CRC (cheap: no decompression); Pillow's load does not
        try:
            Image.open(io.BytesIO(data)).verify()
        except Exception as e:
            raise ImageError(f"{p} is corrupt (PNG check failed: {e or type(e).__name__})") from None
    wide = fmt in ("PNG", "TIFF") and _is_wide_colour(im)  # before getexif(), which may decode a PNG
    try:
        has_exif = fmt != "PNG" or b"eXIf" in data
        orientation = int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1) if has_exif else 1
    except Exception:  # a broken EXIF block must not make a good photo unreadable
        orientation = 1
    if orientation not in range(1, 9):
        orientation = 1
    mode = im.mode
    try:
        rgb = alpha = None
        bits = 8
        if fmt in ("JPEG", "MPO") and mode == "RGB" and _jpeg_looks_complete(data):
            bgr = cv2.imdecode(
                np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
            )
            if bgr is not None and bgr.shape[:2] == (h, w):
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        elif wide:
            arr = _decode_cv2_unchanged(data)
            if arr is None or arr.shape[:2] != (h, w):
                raise ImageError(f"{p} is corrupt or truncated (16-bit {fmt} could not be decoded)")
            rgb, alpha = _from_cv2_wide(arr)
            bits = 16
        if rgb is None:
            im.load()
            rgb, alpha, bits = _decode_pillow(im)
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageError(f"{p} is larger than the limit of {max_pixels / 1e6:.0f} megapixels ({e})") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as e:
        msg = str(e) or type(e).__name__
        what = "truncated" if "truncat" in msg.lower() else "corrupt"
        raise ImageError(f"{p} is {what} and cannot be decoded: {msg}") from None
    except MemoryError:
        raise ImageError(f"{p}: not enough memory to decode a {w}×{h} image") from None
    rotated = orientation != 1
    rgb = _orient(rgb, orientation)
    if alpha is not None:
        alpha = _orient(alpha, orientation)
    icc = im.info.get("icc_profile")
    return LoadedImage(
        rgb=np.ascontiguousarray(rgb, dtype=np.uint8),
        alpha=None if alpha is None else np.ascontiguousarray(alpha, dtype=np.uint8),
        path=p,
        format="JPEG" if fmt == "MPO" else ("BMP" if fmt == "DIB" else fmt),
        mode=mode,
        bit_depth=bits,
        original_size=(w, h),
        exif_rotated=rotated,
        icc_profile=icc if isinstance(icc, bytes) and icc else None,
    )


# ----------------------------------------------------------------------------------------------- save
def _format_for(p: Path, allowed: dict[str, str]) -> str:
    fmt = allowed.get(p.suffix.lower())
    if fmt is None:
        raise ImageError(
            f"cannot save {p}: unknown file type {p.suffix or '(no suffix)'!r}; "
            f"use one of {', '.join(sorted(allowed))}"
        )
    return fmt


def save_image(
    path: str | os.PathLike,
    rgb: np.ndarray,
    *,
    quality: int = 95,
    alpha: np.ndarray | None = None,
    icc_profile: bytes | None = None,
) -> None:
    """Write ``rgb`` (uint8 H×W×3) atomically; the format comes from the suffix.

    ``alpha`` (uint8 H×W) is written where the format can hold it (PNG, WebP, TIFF, BMP) and dropped
    for JPEG. ``quality`` (1..100) applies to JPEG and WebP (100 = lossless WebP).
    """
    p = Path(path)
    fmt = _format_for(p, WRITE_FORMATS)
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ImageError(f"cannot save {p}: image must be an H×W×3 uint8 array, got {a.dtype} {a.shape}")
    if not 1 <= int(quality) <= 100:
        raise ImageError(f"cannot save {p}: quality must be 1..100, got {quality}")
    img = Image.fromarray(np.ascontiguousarray(a), "RGB")
    if alpha is not None and fmt != "JPEG":
        al = np.asarray(alpha)
        if al.shape != a.shape[:2] or al.dtype != np.uint8:
            raise ImageError(
                f"cannot save {p}: alpha must be {a.shape[0]}×{a.shape[1]} uint8, got {al.dtype} {al.shape}"
            )
        img = Image.fromarray(np.ascontiguousarray(np.dstack([a, al])), "RGBA")
    params: dict = {}
    if icc_profile:
        params["icc_profile"] = icc_profile
    if fmt == "JPEG":
        params.update(quality=int(quality), subsampling=0 if quality >= 90 else 2)
    elif fmt == "WEBP":
        params.update(quality=int(quality), lossless=int(quality) >= 100, method=4)
    elif fmt == "PNG":
        params.update(compress_level=6)
    elif fmt == "TIFF":
        params.update(compression="tiff_lzw")

    def write(f) -> None:
        img.save(f, format=fmt, **params)

    atomic_write(p, write, "image", ImageError)
