"""Shape helpers for the synthetic renderer: curves, ellipses, the canonical -> pixel transform.

Shapes live in canonical coordinates (the image is the unit square, x right, y down). ``Xf`` applies a
small yaw warp (features with depth shift toward the compressed side) and the pose (rotation about
the face centre, scale, translation); ``fill``/``line`` draw with sub-pixel precision (``shift=4``),
so label maps are exact at any size.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from training.data.synth_params import Geometry

T = {n: np.linspace(0.0, 1.0, n) for n in (6, 8, 12, 16, 24)}
T13 = np.linspace(-1.0, 1.0, 13)
Y7 = np.linspace(0.0, 1.0, 8)[1:]


def bez(p0, p1, p2, n: int = 12) -> np.ndarray:
    t = T[n][:, None]
    return (1 - t) ** 2 * np.asarray(p0) + 2 * (1 - t) * t * np.asarray(p1) + t * t * np.asarray(p2)


_TRIG: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def _trig(n: int, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
    key = (n, round(t0, 6), round(t1, 6))
    v = _TRIG.get(key)
    if v is None:
        t = np.linspace(t0, t1, n, endpoint=(t1 - t0) < 2 * math.pi - 1e-6)
        v = _TRIG[key] = (np.cos(t), np.sin(t))
    return v


def ellipse(cx, cy, rx, ry, n=24, rot=0.0, expo=2.0, t0=0.0, t1=2 * math.pi) -> np.ndarray:
    c, s = _trig(n, t0, t1)
    if expo == 2.0:
        x, y = rx * c, ry * s
    else:
        e = 2.0 / expo
        x, y = rx * np.copysign(np.abs(c) ** e, c), ry * np.copysign(np.abs(s) ** e, s)
    out = np.empty((n, 2))
    if rot:
        cr, sr = math.cos(rot), math.sin(rot)
        out[:, 0] = cx + x * cr - y * sr
        out[:, 1] = cy + x * sr + y * cr
    else:
        out[:, 0] = cx + x
        out[:, 1] = cy + y
    return out


def chaikin(pts: np.ndarray, rounds: int = 2) -> np.ndarray:
    """Round the corners of an open polyline (end points kept)."""
    for _ in range(rounds):
        a, b = pts[:-1], pts[1:]
        mid = np.empty((2 * len(a), 2))
        mid[0::2], mid[1::2] = 0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b
        pts = np.concatenate([pts[:1], mid, pts[-1:]])
    return pts


class Xf:
    """Canonical -> pixel transform (yaw warp, then rotation/scale about the face centre)."""

    def __init__(self, g: Geometry, size: int):
        a = math.radians(g.angle)
        c, s = math.cos(a) * g.scale * size, math.sin(a) * g.scale * size
        self.m = np.array([[c, s], [-s, c]])  # row vectors: p @ m
        self.o = np.array([(g.cx + g.tx) * size - 0.5, (g.cy + g.ty) * size - 0.5])
        self.g, self.size = g, size
        self.k, self.inv_fw = 0.3 * g.yaw / g.face_w, 1.0 / g.face_w

    def __call__(self, pts, depth: float = 0.0) -> np.ndarray:
        g = self.g
        p = np.array(pts, np.float64).reshape(-1, 2)
        p -= (g.cx, g.cy)
        if g.yaw:
            x = p[:, 0]
            rel = np.minimum(np.maximum(x * self.inv_fw, -1.0), 1.0)
            p[:, 0] = x - x * rel * (0.3 * g.yaw) + g.yaw * depth * 0.05
        return p @ self.m + self.o

    def px(self, v: float) -> float:
        return v * self.g.scale * self.size


def fill(img, pts_px, value) -> None:
    cv2.fillPoly(img, [np.rint(pts_px * 16).astype(np.int32)], int(value), cv2.LINE_8, 4)


def line(img, pts_px, value, thick: int, closed=False) -> None:
    cv2.polylines(
        img, [np.rint(pts_px * 16).astype(np.int32)], closed, int(value), max(1, thick), cv2.LINE_8, 4
    )


def head_outline(g: Geometry, grow: float = 0.0, grow_top: float = 0.0, n: int = 24) -> tuple:
    """(cranium arc left -> top -> right, jaw arc right -> chin -> left) in canonical coords."""
    rx, ry = g.face_w + grow, g.crown_h + grow_top
    top = ellipse(g.cx, g.cy, rx, ry, n, expo=g.top_n, t0=math.pi, t1=2 * math.pi + 1e-9)
    c, s = _trig(n, 0.0, math.pi + 1e-9)
    e = 2.0 / g.jaw_n
    yy = np.abs(s) ** e
    xx = np.sign(c) * np.abs(c) ** e * (1 - g.jaw_taper * yy**2)
    jaw = np.stack([g.cx + (g.face_w + grow) * xx, g.cy + (g.chin_h + grow) * yy], 1)
    return top, jaw
