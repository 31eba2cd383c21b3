"""Cached textures and work buffers for the synthetic renderer.

Textures are generated once per image size with fixed seeds (so renders stay deterministic) on a
canvas twice the image size; each face takes a shifted crop, so no noise is generated per sample:
skin pores and blotches, radial hair strands (straight, wavy) and coils (curly), fabric patterns,
background bokeh and sensor noise. ``workspace(size)`` hands out preallocated full-size buffers per
thread, because fresh image-sized temporaries are slow to allocate on some systems.
"""

from __future__ import annotations

import math
import threading

import cv2
import numpy as np

PATTERNS = ("stripes", "checks", "dots", "knit", "print")


def _norm(a: np.ndarray, clip: float = 2.5) -> np.ndarray:
    a = (a - a.mean()) / (a.std() + 1e-6)
    return np.clip(a, -clip, clip).astype(np.float32)


def _smooth_noise(rng, n: int, cell: float) -> np.ndarray:
    small = rng.standard_normal((max(2, int(n / cell)) + 3,) * 2).astype(np.float32)
    big = cv2.resize(small, (n + int(3 * cell),) * 2, interpolation=cv2.INTER_CUBIC)
    return big[:n, :n]


def _fbm(rng, n: int, cells) -> np.ndarray:
    return _norm(sum(_smooth_noise(rng, n, c) * (c / cells[0]) ** 0.5 for c in cells))


class TextureBank:
    """All cached textures for one image size ``S``; canvases are ``2S x 2S`` float32."""

    def __init__(self, size: int):
        S, C = size, 2 * size
        self.size = S
        rng = np.random.default_rng(9000 + S)
        k = S / 256.0
        self.pores = _norm(cv2.GaussianBlur(rng.standard_normal((C, C)).astype(np.float32), (0, 0), 0.55 * k))
        self.blotch = _fbm(rng, C, [S / 6, S / 14, S / 30])
        self.sensor = _norm(rng.standard_normal((C, C)).astype(np.float32))
        self.hair = {kind: self._hair(rng, kind) for kind in ("straight", "wavy", "curly")}
        y, x = np.mgrid[0:C, 0:C].astype(np.float32)
        per = max(4.0, S / 22)
        stripes = 0.5 + 0.5 * np.sin((x * 0.8 + y * 0.6) * 2 * math.pi / per)
        stripes = (stripes > 0.55).astype(np.float32)
        ca = 0.5 + 0.5 * np.sin(x * 2 * math.pi / (per * 1.3))
        cb = 0.5 + 0.5 * np.sin(y * 2 * math.pi / (per * 1.3))
        checks = (ca > 0.5).astype(np.float32) * 0.5 + (cb > 0.5).astype(np.float32) * 0.5
        dots = (
            ((x % per) - per / 2) ** 2 + ((y + (x // per) % 2 * per / 2) % per - per / 2) ** 2
            < (per * 0.22) ** 2
        ).astype(np.float32)
        knit = 0.5 + 0.5 * np.sin(x * 2 * math.pi / max(3.0, per / 3)) * (
            0.6 + 0.4 * np.sin(y * 2 * math.pi / max(3.0, per / 2))
        )
        prt = (_fbm(rng, C, [S / 12, S / 30]) > 0.6).astype(np.float32)
        self.patterns = {}
        for name, p in zip(PATTERNS, (stripes, checks, dots, knit, prt), strict=True):
            self.patterns[name] = cv2.GaussianBlur(p.astype(np.float32), (0, 0), 0.6 * k)
        bokeh = np.zeros((C, C), np.float32)
        for _ in range(40):
            cx, cy = rng.uniform(0, C, 2)
            cv2.circle(
                bokeh, (int(cx), int(cy)), int(rng.uniform(0.03, 0.09) * S), float(rng.uniform(0.4, 1)), -1
            )
        self.bokeh = _norm(cv2.GaussianBlur(bokeh, (0, 0), 0.02 * S))

    def _hair(self, rng, kind: str) -> np.ndarray:
        """Strands radiating from the canvas centre (the crown), ``(2S, 2S)``, std 1."""
        S = self.size
        C = 2 * S
        if kind == "curly":
            coils = np.zeros((C, C), np.float32)
            k = S / 256.0
            n = int(C * C / (28 * k * k))
            xs, ys = rng.uniform(0, C, n), rng.uniform(0, C, n)
            rs, vs = rng.uniform(1.5, 4.0, n) * k, rng.uniform(0.3, 1.0, n)
            for x, y, r, v in zip(xs, ys, rs, vs, strict=True):
                cv2.circle(
                    coils, (int(x * 4), int(y * 4)), int(r * 4), float(v), max(1, int(k)), cv2.LINE_AA, 2
                )
            coils = cv2.GaussianBlur(coils, (0, 0), 0.6 * k)
            return _norm(_norm(coils) + 0.5 * _smooth_noise(rng, C, max(4.0, S / 20)))
        n_theta, n_r = 6 * S, int(1.5 * S)
        tex = rng.standard_normal((n_r, n_theta)).astype(np.float32)
        fine = cv2.GaussianBlur(tex, (0, 0), sigmaX=0.8, sigmaY=S / 24)
        clump = cv2.GaussianBlur(
            rng.standard_normal((n_r, n_theta)).astype(np.float32), (0, 0), sigmaX=5.0, sigmaY=S / 10
        )
        polar = _norm(fine) * 0.7 + _norm(clump) * 0.55
        y, x = np.mgrid[0:C, 0:C].astype(np.float32) - S
        r = np.sqrt(x * x + y * y)
        th = np.arctan2(y, x)
        if kind == "wavy":
            th = th + 0.07 * np.sin(r / (S / 14.0)) * np.minimum(r / (S / 6.0), 1.0)
        map_x = ((th + math.pi) / (2 * math.pi) * n_theta).astype(np.float32) % n_theta
        map_y = np.minimum(r, n_r - 1).astype(np.float32)
        out = cv2.remap(polar, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        return _norm(out)

    def crop(self, canvas: np.ndarray, offset) -> np.ndarray:
        S = self.size
        ox, oy = int(offset[0] * S) % S, int(offset[1] * S) % S
        return canvas[oy : oy + S, ox : ox + S]

    def centred(self, canvas: np.ndarray, x: float, y: float) -> np.ndarray:
        """Crop so that the canvas centre lands at image pixel (x, y) (clamped to the canvas)."""
        S = self.size
        ox = int(np.clip(round(S - x), 0, S))
        oy = int(np.clip(round(S - y), 0, S))
        return canvas[oy : oy + S, ox : ox + S]


_BANKS: dict[int, TextureBank] = {}
_LOCK = threading.Lock()


def bank(size: int) -> TextureBank:
    with _LOCK:
        b = _BANKS.get(size)
        if b is None:
            b = _BANKS[size] = TextureBank(size)
        return b


class Workspace:
    """Preallocated full-size buffers, one set per thread and size (see ``workspace``).

    Big temporaries are slow to allocate on some systems (page faults on every fresh array), so the
    renderer writes into these. ``alb`` holds the albedo until the next render on the same thread.
    """

    def __init__(self, size: int):
        S = size
        f1 = lambda: np.zeros((S, S), np.float32)  # noqa: E731
        f3 = lambda: np.zeros((S, S, 3), np.float32)  # noqa: E731
        self.size = S
        self.mod, self.tmp = f1(), f1()
        self.ch = [f1(), f1(), f1()]
        self.mod3, self.alb, self.img, self.mult, self.spec = f3(), f3(), f3(), f3(), f3()
        self.u8 = np.zeros((S, S, 3), np.uint8)


_LOCAL = threading.local()


def workspace(size: int) -> Workspace:
    d = getattr(_LOCAL, "ws", None)
    if d is None:
        d = _LOCAL.ws = {}
    w = d.get(size)
    if w is None:
        w = d[size] = Workspace(size)
    return w
