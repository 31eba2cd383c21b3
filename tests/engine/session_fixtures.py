"""Fixtures for session/CLI tests: a face-like layout parser and a textured test photo."""

from __future__ import annotations

import cv2
import numpy as np


def face_layout(size: int) -> np.ndarray:
    """A fixed face-shaped label map at ``size``² (skin, hair, eyes, brows, nose, lips, neck, cloth)."""
    s = size / 64.0
    m = np.zeros((size, size), np.uint8)

    def ell(c, ax, label):
        cv2.ellipse(m, (int(c[0] * s), int(c[1] * s)), (max(1, int(ax[0] * s)), max(1, int(ax[1] * s))),
                    0, 0, 360, int(label), -1)

    cv2.rectangle(m, (int(8 * s), int(54 * s)), (int(56 * s), size), 18, -1)
    cv2.rectangle(m, (int(26 * s), int(44 * s)), (int(38 * s), int(56 * s)), 17, -1)
    ell((32, 26), (20, 22), 13)
    ell((32, 32), (15, 19), 1)
    ell((17, 32), (2, 4), 8)
    ell((47, 32), (2, 4), 9)
    ell((26, 28), (3, 2), 4)
    ell((38, 28), (3, 2), 5)
    ell((26, 24), (4, 1), 6)
    ell((38, 24), (4, 1), 7)
    ell((32, 35), (2, 4), 2)
    ell((32, 42), (5, 1), 11)
    ell((32, 44), (5, 1), 12)
    return m


class LayoutParser:
    """A deterministic parser for tests: always returns the face layout at the crop's size."""

    def parse(self, crop: np.ndarray) -> np.ndarray:
        return face_layout(crop.shape[0])


def textured_photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (max(2, h // 16), max(2, w // 16), 3)).astype(np.uint8)
    img = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
    noise = rng.integers(-12, 12, (h, w, 3))
    return np.clip(img.astype(int) + noise, 0, 255).astype(np.uint8)
