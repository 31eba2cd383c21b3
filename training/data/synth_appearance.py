"""Appearance of a synthetic face: colours and texture choices per region group.

``sample_appearance(seed)`` returns JSON types only, grouped by region (``skin``, ``hair``, ``lips``,
``cloth``...), so that one group can be taken from another face for transfer ground truth. Skin tones
interpolate anchors that span very light to very dark skin; hair colours cover the natural range plus
a few dyes.
"""

from __future__ import annotations

import numpy as np

from training.data.synth_params import Stream, weighted_choice

# Skin albedo anchors from very light to very dark (sRGB / 255); a tone t in [0, 1] interpolates.
SKIN_ANCHORS = (
    np.array(
        [
            (250, 222, 200),
            (238, 200, 172),
            (222, 176, 142),
            (198, 146, 108),
            (172, 118, 82),
            (140, 92, 62),
            (106, 68, 46),
            (74, 48, 34),
        ],
        np.float32,
    )
    / 255.0
)

HAIR_COLOURS: dict[str, tuple[tuple[int, int, int], float]] = {
    # name: (rgb, sampling weight)
    "black": ((24, 20, 19), 0.20),
    "dark_brown": ((52, 36, 27), 0.18),
    "brown": ((92, 62, 40), 0.14),
    "light_brown": ((136, 98, 64), 0.09),
    "dark_blonde": ((168, 132, 88), 0.07),
    "blonde": ((212, 180, 126), 0.07),
    "platinum": ((228, 218, 196), 0.03),
    "auburn": ((124, 56, 32), 0.05),
    "ginger": ((176, 88, 42), 0.04),
    "grey": ((142, 140, 137), 0.05),
    "white": ((214, 211, 206), 0.03),
    "pink": ((206, 96, 150), 0.015),
    "blue": ((58, 92, 172), 0.015),
    "purple": ((108, 60, 140), 0.015),
    "green": ((58, 128, 92), 0.015),
}

IRIS_COLOURS: dict[str, tuple[tuple[int, int, int], float]] = {
    "dark_brown": ((52, 32, 20), 0.35),
    "brown": ((96, 60, 32), 0.25),
    "hazel": ((118, 96, 48), 0.12),
    "green": ((76, 116, 70), 0.10),
    "blue": ((78, 118, 168), 0.12),
    "grey": ((116, 126, 136), 0.06),
}

LIPSTICKS = ((176, 32, 48), (196, 84, 110), (120, 40, 64), (184, 112, 100), (150, 30, 30))
METALS = ((222, 180, 90), (206, 208, 214), (236, 230, 216))  # gold, silver, pearl


def skin_colour(tone: float) -> np.ndarray:
    """Interpolate the skin anchors at ``tone`` in [0, 1] (0 lightest)."""
    x = float(np.clip(tone, 0, 1)) * (len(SKIN_ANCHORS) - 1)
    i = min(int(x), len(SKIN_ANCHORS) - 2)
    f = x - i
    return (1 - f) * SKIN_ANCHORS[i] + f * SKIN_ANCHORS[i + 1]


def _hsv_colour(r: Stream, sat=(0.15, 0.75), val=(0.2, 0.9)) -> list[float]:
    h, s, v = r.rand(), r.u(*sat), r.u(*val)
    i, f = int(h * 6) % 6, h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return [float(c) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))[i]]


def sample_appearance(seed: int) -> dict[str, dict]:
    """Colours and texture choices per region group (JSON types only)."""
    r = Stream(seed, 202)
    u = r.u
    tone = float(u(0, 1))
    skin = skin_colour(tone) * np.array([u(0.97, 1.03), u(0.96, 1.03), u(0.94, 1.05)])
    hair_name = weighted_choice(r, HAIR_COLOURS)
    hair = np.array(HAIR_COLOURS[hair_name][0]) / 255 * u(0.88, 1.12)
    iris_name = weighted_choice(r, IRIS_COLOURS)
    lips = skin * np.array([1.0, 0.72, 0.74]) * u(0.72, 0.9)
    lipstick = r.rand() < 0.18
    if lipstick:
        lips = np.array(LIPSTICKS[r.int(0, len(LIPSTICKS))]) / 255 * u(0.85, 1.1)
    brow = (
        np.minimum(hair * u(0.55, 0.85), 0.45)
        if hair_name not in ("pink", "blue", "purple", "green")
        else np.array([0.2, 0.15, 0.12])
    )
    cloth_pattern = r.pick(
        ["plain", "stripes", "checks", "dots", "knit", "print"], [0.36, 0.2, 0.12, 0.1, 0.12, 0.1]
    )
    top = _hsv_colour(r, (0.05, 0.35), (0.35, 0.85))
    bottom = [float(c * u(0.75, 1.1)) for c in top]

    def off() -> list[float]:
        return [float(u(0, 1)), float(u(0, 1))]

    return {
        "skin": {
            "tone": tone,
            "rgb": [float(c) for c in np.clip(skin, 0, 1)],
            "pores": float(u(0.015, 0.035)),
            "blotch": float(u(0.008, 0.025)),
            "blush": float(u(0.0, 0.7)),
            "freckles": r.int(15, 60) if r.rand() < 0.15 else 0,
            "moles": r.int(1, 3) if r.rand() < 0.35 else 0,
            "tex_offset": off(),
        },
        "hair": {
            "colour": hair_name,
            "rgb": [float(c) for c in np.clip(hair, 0, 1)],
            "strand_contrast": float(u(0.14, 0.3)),
            "texture": r.pick(["straight", "wavy", "curly"], [0.5, 0.35, 0.15]),
            "sheen": float(u(0.3, 1.0)),
            "tex_offset": off(),
        },
        "brows": {"rgb": [float(c) for c in brow], "tex_offset": off()},
        "eyes": {
            "iris": iris_name,
            "iris_rgb": [c / 255 * u(0.85, 1.15) for c in IRIS_COLOURS[iris_name][0]],
            "sclera_rgb": [float(u(0.78, 0.88)), float(u(0.75, 0.84)), float(u(0.72, 0.82))],
            "lash_rgb": [float(c) for c in np.minimum(brow * 0.6, 0.15)],
        },
        "lips": {"rgb": [float(c) for c in np.clip(lips, 0, 1)], "lipstick": bool(lipstick)},
        "mouth": {
            "rgb": [float(u(0.28, 0.4)), float(u(0.08, 0.13)), float(u(0.09, 0.14))],
            "teeth_rgb": [float(u(0.86, 0.95)), float(u(0.82, 0.9)), float(u(0.72, 0.82))],
        },
        "cloth": {
            "rgb": _hsv_colour(r),
            "rgb2": _hsv_colour(r, (0.0, 0.6), (0.3, 0.95)),
            "pattern": cloth_pattern,
            "weave": float(u(0.03, 0.09)),
            "tex_offset": off(),
        },
        "background": {
            "rgb": top,
            "rgb_bottom": bottom,
            "blotch": float(u(0.01, 0.05)),
            "bokeh": float(u(0.02, 0.08)) if r.rand() < 0.35 else 0.0,
            "tex_offset": off(),
        },
        "glasses": {
            "frame_rgb": _hsv_colour(r, (0.0, 0.6), (0.05, 0.6)),
            "tint": [float(u(0.85, 1.0)), float(u(0.88, 1.0)), float(u(0.9, 1.0))],
        },
        "hat": {"rgb": _hsv_colour(r, (0.1, 0.8), (0.15, 0.85)), "tex_offset": off()},
        "jewelry": {"rgb": [c / 255 for c in METALS[r.int(0, len(METALS))]]},
    }
