"""Photographic backgrounds for the photo variant of the synthetic corpus (see ``synth_photo``).

A background is built in float32 RGB in [0, 1] from a handful of randomised layers whose statistics
resemble what sits behind people in real portraits: a 1/f ("pink") noise field mapped onto a small
colour palette, smooth studio-backdrop gradients, indoor structure (walls, door and window frames,
shelves: long vertical and horizontal blocks), blurred blobs, and bokeh discs of mixed size and
brightness. The whole thing is then defocused by a random amount, as a portrait lens would.

Everything here is a pure function of its arguments and the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math
import threading

import cv2
import numpy as np

__all__ = ["normal_noise", "pink_noise", "blur", "random_colour", "background"]

_BANKS: dict[int, np.ndarray] = {}
_BANK_LOCK = threading.Lock()


def normal_noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Standard normal white noise (h, w) float32, cut at a random offset and flip from a cached bank.

    Drawing fresh Gaussian numbers costs more than the rest of a noise step; a fixed-seed bank twice the
    size, cut anywhere and flipped either way, is just as good as noise and keeps results deterministic.
    The result is a view: copy it before writing to it.
    """
    n = 64 * -(-max(h, w) // 64)
    bank = _BANKS.get(n)
    if bank is None:
        with _BANK_LOCK:
            bank = _BANKS.get(n)
            if bank is None:
                bank = np.random.default_rng(n).standard_normal((2 * n, 2 * n), dtype=np.float32)
                bank.setflags(write=False)
                _BANKS[n] = bank
    y, x = int(rng.integers(0, 2 * n - h + 1)), int(rng.integers(0, 2 * n - w + 1))
    cut = bank[y : y + h, x : x + w]
    flip = int(rng.integers(4))
    return cut[:: 1 - 2 * (flip & 1), :: 1 - 2 * (flip >> 1)]


def pink_noise(rng: np.random.Generator, size: int, slope: float = 0.0, coarsest: int = 3) -> np.ndarray:
    """A zero-mean, unit-variance noise field with a roughly 1/f amplitude spectrum.

    White noise on a grid of ``coarsest`` cells is upsampled 2x at a time, with fresh white noise added
    at every level (an octave each) until the grid reaches ``size / 2``; a last bicubic resize gives
    ``size``. Equal weight per octave means constant power per octave, which is the 1/f^2 power
    spectrum of natural images; ``slope`` > 0 tilts the weights towards coarse octaves (smoother).
    """
    n = max(2, int(coarsest))
    f = rng.standard_normal((n, n), dtype=np.float32)
    while 2 * n <= size // 2:
        n *= 2
        f = cv2.resize(f, (n, n), interpolation=cv2.INTER_CUBIC)
        f += rng.standard_normal((n, n), dtype=np.float32) * float((n / coarsest) ** -slope)
    f = cv2.resize(f, (size, size), interpolation=cv2.INTER_CUBIC)
    mean, sd = cv2.meanStdDev(f)
    f -= float(mean[0, 0])
    f *= 1.0 / (float(sd[0, 0]) + 1e-6)
    return f


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``sigma`` pixels; large blurs run on a downscaled copy (same look, much cheaper)."""
    if sigma < 0.3:
        return img
    h, w = img.shape[:2]
    if sigma <= 3.0:
        return cv2.GaussianBlur(img, (0, 0), sigma)
    f = max(2, int(sigma / 1.5))
    small = cv2.resize(img, (max(4, w // f), max(4, h // f)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / f)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def random_colour(rng: np.random.Generator, sat_max: float = 0.6) -> np.ndarray:
    """An RGB colour in [0, 1] drawn like real scene colours: mostly muted, any hue, any brightness."""
    h = rng.random()
    s = sat_max * rng.random() ** 1.8
    v = 0.08 + 0.9 * rng.random() ** 0.8
    k = (np.array([5.0, 3.0, 1.0]) + h * 6.0) % 6.0
    rgb = v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return rgb.astype(np.float32)


def _palette_field(rng, size: int, t: np.ndarray) -> np.ndarray:
    """Map a scalar field ``t`` (any range) onto a 2- or 3-colour ramp."""
    cols = [random_colour(rng) for _ in range(2 + int(rng.random() < 0.5))]
    u = 1.0 / (1.0 + np.exp(-t * rng.uniform(0.8, 2.2)))
    if len(cols) == 2:
        out = cols[0] + (cols[1] - cols[0]) * u[..., None]
    else:
        a = np.clip(2.0 * u, 0.0, 1.0)[..., None]
        b = np.clip(2.0 * u - 1.0, 0.0, 1.0)[..., None]
        out = cols[0] + (cols[1] - cols[0]) * a + (cols[2] - cols[1]) * b
    return out.astype(np.float32)


def _gradient(rng, size: int) -> np.ndarray:
    """A smooth studio backdrop: a linear or radial ramp between two related colours."""
    c0 = random_colour(rng, 0.35)
    if rng.random() < 0.3:  # the common bright (white / light grey) or dark (black) backdrop
        c0 = np.full(3, rng.choice([rng.uniform(0.75, 0.98), rng.uniform(0.02, 0.15)]), np.float32)
        c0 *= 1.0 + rng.normal(0.0, 0.04, 3).astype(np.float32)
    c1 = np.clip(c0 * rng.uniform(0.5, 1.3) + rng.normal(0.0, 0.05, 3), 0.0, 1.0).astype(np.float32)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if rng.random() < 0.5:
        a = rng.uniform(0.0, 2.0 * math.pi)
        t = (x - 0.5) * math.cos(a) + (y - 0.5) * math.sin(a) + 0.5
    else:
        cx, cy = rng.uniform(0.2, 0.8, 2)
        t = np.sqrt((x - cx) ** 2 + (y - cy) ** 2) * 1.4
    return (c0 + (c1 - c0) * np.clip(t, 0.0, 1.0)[..., None]).astype(np.float32)


def _structures(rng, img: np.ndarray) -> None:
    """Draw indoor-like structure in place: long vertical/horizontal blocks, frames and shelves."""
    S = img.shape[0]
    for _ in range(int(rng.integers(2, 9))):
        col = tuple(float(c) for c in random_colour(rng, 0.45))
        if rng.random() < 0.6:  # vertical: wall edges, door frames, curtains, poles
            x0 = int(rng.uniform(-0.1, 1.0) * S)
            w = int(S * rng.uniform(0.01, 0.35))
            y0, y1 = int(rng.uniform(-0.2, 0.5) * S), int(rng.uniform(0.6, 1.2) * S)
            box = (x0, y0, x0 + w, y1)
        else:  # horizontal: shelves, skirting, window sills, table tops
            y0 = int(rng.uniform(-0.1, 1.0) * S)
            h = int(S * rng.uniform(0.01, 0.25))
            x0, x1 = int(rng.uniform(-0.2, 0.5) * S), int(rng.uniform(0.6, 1.2) * S)
            box = (x0, y0, x1, y0 + h)
        if rng.random() < 0.3:  # an outlined frame rather than a filled block
            cv2.rectangle(img, box[:2], box[2:], col, max(1, int(S * rng.uniform(0.005, 0.03))), cv2.LINE_AA)
        else:
            cv2.rectangle(img, box[:2], box[2:], col, -1, cv2.LINE_AA)


def _blobs(rng, img: np.ndarray) -> None:
    """Random filled ellipses and polygons in place (out-of-focus objects, plants, people)."""
    S = img.shape[0]
    for _ in range(int(rng.integers(2, 10))):
        col = tuple(float(c) for c in random_colour(rng, 0.45))
        c = (int(rng.uniform(0, S)), int(rng.uniform(0, S)))
        if rng.random() < 0.5:
            ax = (int(S * rng.uniform(0.03, 0.3)), int(S * rng.uniform(0.03, 0.3)))
            cv2.ellipse(img, c, ax, float(rng.uniform(0, 180)), 0, 360, col, -1, cv2.LINE_AA)
        else:
            n = int(rng.integers(3, 7))
            r = S * rng.uniform(0.05, 0.3)
            ang = np.sort(rng.uniform(0, 2 * math.pi, n))
            pts = np.stack([c[0] + r * np.cos(ang), c[1] + r * np.sin(ang)], 1).astype(np.int32)
            cv2.fillPoly(img, [pts], col, cv2.LINE_AA)


def _bokeh(rng, img: np.ndarray) -> None:
    """Out-of-focus highlights in place: discs of mixed size and brightness, added in three layers."""
    S = img.shape[0]
    tint = random_colour(rng, 0.5) * 0.5 + 0.5
    for _ in range(3):
        layer = np.zeros_like(img)
        for _ in range(int(rng.integers(3, 14))):
            r = max(1, int(S * rng.uniform(0.008, 0.07) ** 1.0))
            col = np.clip(tint * rng.uniform(0.5, 1.2) + rng.normal(0, 0.1, 3), 0, 1) * rng.uniform(0.15, 0.6)
            c = (int(rng.uniform(0, S)), int(rng.uniform(0, S)))
            cv2.circle(layer, c, r, tuple(float(v) for v in col), -1, cv2.LINE_AA)
        img += cv2.GaussianBlur(layer, (0, 0), rng.uniform(0.6, 1.6))


def background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random photographic background, float32 (size, size, 3) in [0, 1] (see the module docstring)."""
    base = rng.random()
    if base < 0.35:
        img = _gradient(rng, size)
    else:
        img = _palette_field(rng, size, pink_noise(rng, size, rng.uniform(0.0, 0.8)))
    if rng.random() < 0.45:
        _structures(rng, img)
    if rng.random() < 0.4:
        _blobs(rng, img)
    # uneven room light across the whole scene, so flat shapes do not look like clip art
    img *= np.maximum(1.0 + rng.uniform(0.1, 0.35) * pink_noise(rng, size, 1.2, coarsest=2), 0.3)[..., None]
    # defocus: most portrait backgrounds are soft, some are sharp
    defocus = rng.choice([0.0, rng.uniform(0.002, 0.012), rng.uniform(0.012, 0.05)], p=[0.25, 0.45, 0.3])
    img = blur(img, size * defocus)
    if rng.random() < 0.25:
        _bokeh(rng, img)
    # fine real-world texture survives even under blur (fabric, paint, plaster, sensor-scale detail)
    fine = rng.uniform(0.004, 0.03)
    img *= 1.0 + fine * pink_noise(rng, size, -0.3, coarsest=size // 8)[..., None]
    return np.clip(img, 0.0, 1.0, out=img)
