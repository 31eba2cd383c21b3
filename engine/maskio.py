"""Label-mask files and the file plumbing shared with :mod:`engine.imageio`.

Masks are 8-bit single-channel PNGs of class ids 0..18 (the order of :mod:`engine.labels`). Reading is
forgiving where the meaning is unambiguous (gray RGB, the label palette's exact colours, palette indices)
and strict everywhere else. Use these through :mod:`engine.imageio`, which re-exports them.

Writes are atomic (:func:`engine.atomicio.atomic_write`): a temporary file in the target folder, ``fsync``,
then ``os.replace``; on failure the temporary file is removed and the target is left as it was.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from engine import labels
from engine.atomicio import atomic_write
from engine.labels import mirrored_convention, swap_left_right

#: Masks larger than this are refused from the header (a 256² mask is 65 536 pixels).
MAX_MASK_PIXELS = 100_000_000


class ImageError(ValueError):
    """A photo (or mask) file we cannot read or write. The message names the file and the problem."""


class MaskError(ImageError):
    """A label mask that is not 0..18 class ids of the expected size."""


def check_readable(p: Path, what: str, error: type[ImageError] = ImageError) -> int:
    """Size in bytes of an existing, non-empty regular file; ``error`` with a clear message otherwise."""
    try:
        st = p.stat()
    except FileNotFoundError:
        raise error(f"{what} file {p} does not exist") from None
    except OSError as e:
        raise error(f"cannot open {what} file {p}: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{p} is a folder, not an {what} file")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{p} is not a regular file")
    if st.st_size == 0:
        raise error(f"{what} file {p} is empty (0 bytes)")
    return int(st.st_size)


# ---------------------------------------------------------------------------------------------- masks
_N = labels.NUM_CLASSES
# Packed RGB (r<<16 | g<<8 | b) of each label-palette colour -> its class id.
_PALETTE_KEYS = (labels.COLORS.astype(np.int64) @ np.array([65536, 256, 1], np.int64)).tolist()
_PALETTE_LUT = dict(zip(_PALETTE_KEYS, range(_N), strict=True))


def _mask_problem(where: str, msg: str) -> MaskError:
    return MaskError(f"{where}: {msg}")


def validate_mask(arr, shape: tuple[int, int] | None = None, *, where: str = "mask") -> np.ndarray:
    """Check an in-memory label map and return it as a fresh C-contiguous uint8 H×W array of ids 0..18.

    Refuses (:class:`MaskError`) non-arrays, wrong ndim, non-numeric dtypes, NaN/inf, non-integer values,
    negative values, ids >= 19 and, when ``shape`` is given, a different size.
    """
    if not isinstance(arr, np.ndarray):
        raise _mask_problem(where, f"expected a numpy array of class ids, got {type(arr).__name__}")
    if arr.ndim != 2:
        raise _mask_problem(where, f"must be a 2-D H×W array of class ids, got shape {arr.shape}")
    if arr.size == 0:
        raise _mask_problem(where, f"is empty (shape {arr.shape})")
    kind = arr.dtype.kind
    if kind not in "biuf":
        raise _mask_problem(where, f"has dtype {arr.dtype}; expected integer class ids")
    if kind == "f":
        if not np.isfinite(arr).all():
            raise _mask_problem(where, "contains NaN or infinite values")
        if (arr != np.floor(arr)).any():
            raise _mask_problem(where, "contains non-integer values; expected class ids 0..18")
    if kind in "if" and arr.min() < 0:
        raise _mask_problem(where, f"contains negative values (min {arr.min()}); expected class ids 0..18")
    if kind != "b" and arr.max() >= _N:
        raise _mask_problem(where, f"contains value {arr.max()}; class ids must be 0..{_N - 1}")
    if shape is not None and tuple(arr.shape) != tuple(shape):
        raise _mask_problem(where, f"is {arr.shape[1]}×{arr.shape[0]}, expected {shape[1]}×{shape[0]}")
    return np.ascontiguousarray(arr.astype(np.uint8, copy=True))


def _ids_from_colour(rgb: np.ndarray, where: str) -> np.ndarray:
    """An RGB mask: equal channels = ids as gray levels; exact label-palette colours = mapped back."""
    rgb = rgb[:, :, :3]
    if (rgb[:, :, 0] == rgb[:, :, 1]).all() and (rgb[:, :, 0] == rgb[:, :, 2]).all():
        return rgb[:, :, 0]
    packed = rgb.astype(np.int64) @ np.array([65536, 256, 1], np.int64)
    keys, inverse = np.unique(packed, return_inverse=True)
    ids = np.array([_PALETTE_LUT.get(int(k), -1) for k in keys], np.int16)
    bad = np.flatnonzero(ids < 0)
    if bad.size:
        k = int(keys[bad[0]])
        colour = (k >> 16, (k >> 8) & 255, k & 255)
        raise _mask_problem(
            where,
            f"is a colour image with {bad.size} colour(s) outside the label palette (e.g. RGB {colour}); "
            "a mask must hold class ids 0..18 (8-bit gray) or exactly the engine.labels colours",
        )
    return ids[inverse.reshape(packed.shape)].astype(np.uint8)


#: PNG text key our masks carry: which side ``l_*`` is (``subject``: engine.labels.LR_PAIRS).
SIDES_KEY = "facepaint-sides"


def load_mask(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """:func:`read_mask` without its note."""
    return read_mask(path, shape)[0]


def read_mask(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> tuple[np.ndarray, str]:
    """Read a label mask PNG (or any lossless image) -> (uint8 H×W of ids 0..18, note).

    A mask that does not say which convention it follows (only ours carry ``SIDES_KEY``) and puts the
    ``l_*`` classes on the image's left of the face is renamed to ours; the note says so (else "").

    Accepts 8-bit gray ids, 16-bit/32-bit gray with values < 19, palette images (indices are ids when
    the colours are not the label palette), RGB whose channels are equal, and RGB drawn exactly in the
    ``engine.labels.COLORS`` palette (mapped back to ids). Anything else raises :class:`MaskError`.
    """
    p = Path(path)
    check_readable(p, "mask", MaskError)
    where = f"mask {p}"
    try:
        with Image.open(p) as im:
            w, h = im.size
            if w * h > MAX_MASK_PIXELS:
                raise _mask_problem(where, f"claims to be {w}×{h} pixels, far larger than any mask")
            if shape is not None and (h, w) != tuple(shape):  # refused from the header, before decoding
                raise _mask_problem(where, f"is {w}×{h}, expected {shape[1]}×{shape[0]}")
            im.load()
            info = dict(im.info)
            mode = im.mode
            if mode == "P":
                rgb = np.asarray(im.convert("RGB"))
                try:
                    arr = _ids_from_colour(rgb, where)
                except MaskError:
                    arr = np.asarray(im)  # palette indices are the ids (VOC-style label PNGs)
            elif mode in ("RGB", "RGBA", "RGBX"):
                arr = _ids_from_colour(np.asarray(im), where)
            elif mode in ("L", "LA", "1"):
                arr = np.asarray(im.getchannel(0) if mode == "LA" else im.convert("L"))
                if mode == "1":
                    arr = (arr > 0).astype(np.uint8)
            elif mode.startswith("I") or mode == "F":
                arr = np.asarray(im)
            else:
                raise _mask_problem(where, f"has colour mode {mode}; expected an 8-bit gray PNG of ids")
    except MaskError:
        raise
    except Image.UnidentifiedImageError:
        raise _mask_problem(where, "is not an image file") from None
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
        raise _mask_problem(where, f"is corrupt or truncated ({e})") from None
    m = validate_mask(np.array(arr), shape, where=where)
    if info.get(SIDES_KEY) != "subject" and mirrored_convention(m):
        return swap_left_right(m).astype(np.uint8), (
            f"{p.name} puts its left eye/brow/ear on the image's left; FacePaint's left is the subject's "
            "(on the image's right), so its left and right classes were swapped"
        )
    return m, ""


def save_mask(path: str | os.PathLike, mask: np.ndarray) -> None:
    """Write ids 0..18 atomically as an 8-bit single-channel PNG."""
    p = Path(path)
    if p.suffix.lower() != ".png":
        raise MaskError(f"cannot save mask {p}: masks are saved as .png (lossless 8-bit ids)")
    m = validate_mask(mask, where=f"mask for {p}")
    img = Image.fromarray(m, "L")
    meta = PngInfo()
    meta.add_text(SIDES_KEY, "subject")
    atomic_write(p, lambda f: img.save(f, format="PNG", compress_level=6, pnginfo=meta), "mask", MaskError)
