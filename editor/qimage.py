"""numpy <-> QImage conversions and region highlight images (no qimage2ndarray import-order traps)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """H×W×3 uint8 -> an independent QImage (Format_RGB888)."""
    a = np.ascontiguousarray(rgb, dtype=np.uint8)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an H×W×3 image, got {a.shape}")
    h, w, _ = a.shape
    return QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def rgba_to_qimage(rgba: np.ndarray) -> QImage:
    """H×W×4 uint8 (straight alpha) -> an independent QImage."""
    a = np.ascontiguousarray(rgba, dtype=np.uint8)
    h, w, _ = a.shape
    return QImage(a.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


def qimage_to_rgb(img: QImage) -> np.ndarray:
    """Any QImage -> H×W×3 uint8 copy."""
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    w, h, stride = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), np.uint8, count=stride * h).reshape(h, stride)
    return buf[:, : 3 * w].reshape(h, w, 3).copy()


def region_rgba(
    region: np.ndarray, rgb: tuple[int, int, int] = (255, 255, 255), alpha: int = 255
) -> np.ndarray:
    """Bool map -> RGBA image: ``rgb`` where True, transparent elsewhere (highlights, free regions)."""
    out = np.zeros(region.shape + (4,), np.uint8)
    out[region] = (*rgb, alpha)
    return out


def outline(region: np.ndarray) -> np.ndarray:
    """Pixels on the inner border of a bool region (4-neighbourhood)."""
    r = np.asarray(region, bool)
    inner = r.copy()
    inner[1:, :] &= r[:-1, :]
    inner[:-1, :] &= r[1:, :]
    inner[:, 1:] &= r[:, :-1]
    inner[:, :-1] &= r[:, 1:]
    return r & ~inner
