"""Hair and hats of a synthetic face: back hair, cap, curtains, fringes, buns, parting, hats.

Drawn with the shape helpers in canonical coordinates; ``draw_back_hair`` runs before the body and the
face (hair seen behind the neck and shoulders), ``draw_front_hair`` and ``draw_hat`` after them.
"""

from __future__ import annotations

import math

import numpy as np

from engine.labels import INDEX
from training.data.synth_params import Geometry
from training.data.synth_shapes import Y7, Xf, bez, ellipse, fill

HAIR, HAT = INDEX["hair"], INDEX["hat"]


def hair_outer(g: Geometry, rng, y_bottom: float, flare: float) -> np.ndarray:
    """Outer hair silhouette from the bottom-left, over the top, to the bottom-right."""
    v = g.hair_volume
    top = ellipse(
        g.cx,
        g.cy,
        g.face_w + v * 0.9,
        g.crown_h + v * 1.3,
        48,
        expo=g.top_n,
        t0=math.pi,
        t1=2 * math.pi + 1e-9,
    )
    if g.curly:
        k = np.arange(len(top))
        ph = rng.uniform(0, 6.3, 3)
        bump = 0.4 * v * (np.sin(k * 0.9 + ph[0]) * 0.6 + np.sin(k * 0.37 + ph[1]) * 0.4)
    else:
        bump = np.zeros(len(top))
    wisp = rng.normal(0, 0.0025, len(top)) + bump
    d = top - (g.cx, g.cy)
    top = top + d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-6) * wisp[:, None]
    if y_bottom <= g.cy:
        top = top[top[:, 1] <= y_bottom + 1e-9]
        return top
    xl, xr = top[0, 0], top[-1, 0]
    ys = g.cy + (y_bottom - g.cy) * Y7
    f = Y7**1.5 * flare
    wl = rng.normal(0, 0.002, len(ys))
    left = np.stack([xl - f + wl, ys], 1)[::-1]
    right = np.stack([xr + f - wl[::-1], ys], 1)
    return np.concatenate([left, top, right])


def hairline(g: Geometry, side: float) -> np.ndarray:
    """Hairline from the temple on ``side`` (+1 image right, -1 left) across the forehead."""
    y_top = g.cy - g.crown_h * g.hairline
    temple = (g.cx + side * g.face_w * 0.9, g.eye_y - 0.035)
    mid = (g.cx, y_top)
    ctrl = (g.cx + side * g.face_w * 0.95, y_top - 0.01)
    half = bez(temple, ctrl, mid, 12)
    other = bez(
        mid,
        (g.cx - side * g.face_w * 0.95, y_top - 0.01),
        (g.cx - side * g.face_w * 0.9, g.eye_y - 0.035),
        12,
    )
    return np.concatenate([half, other[1:]])


def flare_of(g: Geometry) -> float:
    return 0.04 + 1.5 * g.hair_volume if g.hair_style == "long" else 0.012


def draw_back_hair(L: np.ndarray, g: Geometry, xf: Xf, rng) -> None:
    """Long and medium hair seen behind the head, neck and shoulders."""
    if g.hair_style in ("medium", "long"):
        fill(L, xf(hair_outer(g, rng, g.hair_end, flare_of(g)), -0.5), HAIR)


def draw_front_hair(L: np.ndarray, g: Geometry, xf: Xf, rng) -> tuple[tuple, np.ndarray | None]:
    """Cap, side curtains, fringe and bun over the face; returns (crown, part line in pixels)."""
    fw, nw = g.face_w, g.neck_w
    lobe = fw * 0.95 + g.ear_w * 0.55
    long_hair = g.hair_style in ("medium", "long")
    flare = flare_of(g)
    has_hair = g.hair_style != "bald"
    part_line = None
    crown = (g.cx, g.cy - g.crown_h - g.hair_volume * 1.3 - 0.04)
    if has_hair:
        if long_hair:
            y_b = (
                g.hair_end
                if (g.hair_front or g.hair_style == "medium")
                else min(g.hair_end, g.shoulder_y - 0.02)
            )
        else:
            y_b = g.ear_y - g.ear_h * 0.75
        outer = hair_outer(g, rng, y_b, flare if long_hair else 0.0)
        inner = []
        for s in (1, -1):
            side = []
            if long_hair:
                below = y_b > g.cy + g.chin_h * 0.6
                side.append((g.cx + s * (nw * 1.15 if below else fw * 0.85), y_b))
                if below:
                    side.append((g.cx + s * fw * 0.8, g.cy + g.chin_h * 0.62))
                if g.ears_tucked:
                    side += [
                        (g.cx + s * (lobe + g.ear_w * 1.5), g.ear_y + g.ear_h * 1.1),
                        (g.cx + s * (lobe + g.ear_w * 1.5), g.ear_y - g.ear_h * 1.1),
                    ]
                else:
                    side.append((g.cx + s * fw * 0.93, g.cy))
            else:
                side.append((g.cx + s * fw * 0.97, y_b))
            side = side if s == 1 else side[::-1]
            inner.append(side)
        hl = hairline(g, 1.0)
        poly = np.concatenate(
            [outer, np.array(inner[0]).reshape(-1, 2), hl, np.array(inner[1]).reshape(-1, 2)]
        )
        fill(L, xf(poly, 0.1), HAIR)
        if g.fringe != "none":
            y_f = g.brow_y - rng.uniform(-0.004, 0.022)
            xs_f = np.linspace(g.cx - fw * 0.95, g.cx + fw * 0.95, 17)
            if g.fringe == "side":
                sgn = 1 if g.part == "right" else -1
                ys_f = y_f + sgn * (xs_f - g.cx) / fw * 0.035 - 0.01
            else:
                ys_f = np.full_like(xs_f, y_f)
            ys_f = ys_f + rng.uniform(-0.004, 0.009, len(xs_f)) * (np.arange(len(xs_f)) % 2)
            top_f = np.array(
                [
                    (g.cx + fw * 0.99, ys_f[-1] - 0.012),
                    (g.cx + fw * 0.98, g.cy - g.crown_h * 0.6),
                    (g.cx, g.cy - g.crown_h * 0.95),
                    (g.cx - fw * 0.98, g.cy - g.crown_h * 0.6),
                    (g.cx - fw * 0.99, ys_f[0] - 0.012),
                ]
            )
            fr = np.concatenate([np.stack([xs_f, ys_f], 1), top_f])
            fill(L, xf(fr, 0.15), HAIR)
        if g.bun:
            b = ellipse(
                g.cx + rng.uniform(-0.03, 0.03), g.cy - g.crown_h - g.hair_volume - 0.03, 0.055, 0.045, 16
            )
            fill(L, xf(b, 0.0), HAIR)
        if g.part != "none":
            px_ = g.cx + {"left": -0.4, "right": 0.4, "centre": 0.0}[g.part] * fw
            crown = (px_, g.cy - g.crown_h - g.hair_volume)
            part_line = xf([crown, (px_, g.cy - g.crown_h * 0.85)], 0.1)

    return crown, part_line


def draw_hat(L: np.ndarray, g: Geometry, xf: Xf, rng) -> np.ndarray | None:
    """Beanie, cap or brimmed hat; returns the hat band polyline (pixels) for the albedo, if any."""
    fw = g.face_w
    hat_band = None
    if g.hat != "none":
        hl_y = g.hat_line
        if g.hat == "brim":
            crown_pts = ellipse(
                g.cx,
                hl_y,
                fw * 0.95,
                hl_y - (g.cy - g.crown_h - 0.07),
                24,
                expo=3.5,
                t0=math.pi,
                t1=2 * math.pi + 1e-9,
            )
            fill(L, xf(crown_pts, 0.0), HAT)
            brim = ellipse(g.cx, hl_y - 0.005, fw * rng.uniform(1.45, 1.9), rng.uniform(0.025, 0.045), 24)
            fill(L, xf(brim, 0.2), HAT)
            hat_band = xf(crown_pts[(crown_pts[:, 1] > hl_y - 0.04)], 0.0)
        else:
            rx = fw + g.hair_volume + 0.012
            dome = ellipse(
                g.cx,
                hl_y,
                rx,
                hl_y - (g.cy - g.crown_h - g.hair_volume * 1.3 - 0.025),
                24,
                expo=2.3,
                t0=math.pi,
                t1=2 * math.pi + 1e-9,
            )
            bottom = bez((g.cx + rx, hl_y + 0.025), (g.cx, hl_y - 0.012), (g.cx - rx, hl_y + 0.025), 8)
            fill(L, xf(np.concatenate([dome, bottom]), 0.1), HAT)
            if g.hat == "cap":
                visor = ellipse(g.cx, hl_y + 0.004, fw * 0.82, 0.03, 24)
                fill(L, xf(visor, 0.5), HAT)
            else:
                hat_band = xf(bottom - (0, 0.03), 0.1)

    return hat_band
