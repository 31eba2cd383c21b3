"""Random parameters of one synthetic face: geometry and lighting (appearance: synth_appearance.py).

Each seed drives three independent random streams, so any one of them can be swapped without
touching the others:

- geometry (``sample_geometry``): shapes and placements in canonical coordinates (the image is the
  unit square, x right, y down) plus the pose that maps them into the picture;
- appearance (``sample_appearance``): colours and texture choices, grouped by region (``skin``,
  ``hair``, ``lips``...), JSON types only, so that one group can be taken from another face;
- lighting (``random_lighting``): one light direction, colour and intensity for the whole face.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


class Stream:
    """A cheap deterministic stream of uniforms (one numpy call per face instead of dozens)."""

    def __init__(self, seed: int, tag: int, n: int = 160):
        self.v = np.random.default_rng([seed, tag]).random(n).tolist()
        self.i = 0

    def rand(self) -> float:
        x = self.v[self.i]
        self.i += 1
        return x

    def u(self, a: float, b: float) -> float:
        return a + (b - a) * self.rand()

    def int(self, lo: int, hi: int) -> int:
        return min(hi - 1, lo + int((hi - lo) * self.rand()))

    def pick(self, options, p=None):
        x = self.rand()
        if p is None:
            return options[min(len(options) - 1, int(x * len(options)))]
        acc = 0.0
        for o, w in zip(options, p, strict=True):
            acc += w
            if x < acc:
                return o
        return options[-1]


def weighted_choice(r: Stream, table: dict) -> str:
    names = list(table)
    w = [table[n][1] for n in names]
    t = sum(w)
    return r.pick(names, [x / t for x in w])


HAIR_STYLES = ("bald", "short", "medium", "long")
HATS = ("none", "beanie", "cap", "brim")


@dataclass(frozen=True)
class Lighting:
    """One directional light plus ambient light; shades every region of a face alike.

    ``direction`` points from the surface toward the light in image axes: x right, y down, z toward
    the viewer. It is normalised on construction.
    """

    direction: tuple[float, float, float] = (-0.35, -0.45, 0.82)
    colour: tuple[float, float, float] = (1.0, 0.97, 0.92)
    intensity: float = 0.75
    ambient: float = 0.38

    def __post_init__(self) -> None:
        d = np.asarray(self.direction, np.float64).reshape(-1)
        if d.shape != (3,) or not np.all(np.isfinite(d)) or np.linalg.norm(d) < 1e-6:
            raise ValueError(f"light direction must be a non-zero 3-vector, got {self.direction!r}")
        if d[2] < 0.05:
            raise ValueError("light direction must face the viewer (z > 0.05) to light the face")
        d = d / np.linalg.norm(d)
        c = tuple(float(v) for v in self.colour)
        if len(c) != 3 or min(c) < 0:
            raise ValueError(f"light colour must be 3 non-negative numbers, got {self.colour!r}")
        if self.intensity < 0 or self.ambient < 0:
            raise ValueError("light intensity and ambient must be >= 0")
        object.__setattr__(self, "direction", tuple(float(v) for v in d))
        object.__setattr__(self, "colour", c)
        object.__setattr__(self, "intensity", float(self.intensity))
        object.__setattr__(self, "ambient", float(self.ambient))

    def to_dict(self) -> dict:
        return asdict(self)


def as_lighting(value) -> Lighting:
    """Accept a ``Lighting``, a dict of its fields, or a bare 3-vector direction."""
    if isinstance(value, Lighting):
        return value
    if isinstance(value, dict):
        return Lighting(**value)
    return Lighting(direction=tuple(value))


def random_lighting(seed: int) -> Lighting:
    """A plausible portrait light: mostly from the front and above, warm to cool."""
    r = Stream(seed, 303, 8)
    theta = r.u(0, 2 * math.pi)
    lz = r.u(0.45, 0.95)
    lxy = math.sqrt(1 - lz * lz)
    lx, ly = lxy * math.cos(theta), lxy * math.sin(theta)
    if ly > 0 and r.rand() < 0.75:  # most portrait light comes from above
        ly = -ly
    temp = r.u(-1, 1)
    warm, cool = np.array((1.0, 0.9, 0.78)), np.array((0.86, 0.93, 1.0))
    colour = (1 - abs(temp)) * np.ones(3) + abs(temp) * (warm if temp > 0 else cool)
    return Lighting(
        direction=(lx, ly, lz),
        colour=tuple(float(c) for c in colour),
        intensity=r.u(0.6, 1.0),
        ambient=r.u(0.22, 0.4),
    )


@dataclass
class Geometry:
    """Shapes and placements in canonical coordinates (unit square); defaults are a typical face."""

    # head outline: cranium above cy, jaw (superellipse) below it
    cx: float = 0.5
    cy: float = 0.5
    face_w: float = 0.195  # half width at the cheekbones
    crown_h: float = 0.29  # cranium height above cy
    chin_h: float = 0.28  # chin below cy
    top_n: float = 2.2  # cranium superellipse exponent
    jaw_n: float = 2.4  # jaw superellipse exponent (2 round, >3 square)
    jaw_taper: float = 0.15  # narrowing toward the chin
    yaw: float = 0.0  # small head turn (-0.2..0.2), positive compresses the image-right side
    # ears
    ear_y: float = 0.49
    ear_w: float = 0.026
    ear_h: float = 0.06
    # eyes (centre of the image-left eye at cx - eye_dx)
    eye_y: float = 0.455
    eye_dx: float = 0.08
    eye_w: float = 0.035  # half width
    eye_open: float = 0.017  # upper lid height above the corner line
    eye_low: float = 0.009
    eye_tilt: float = 0.05
    iris_r: float = 0.5  # iris radius / eye half width
    gaze_x: float = 0.0
    gaze_y: float = 0.0
    # brows
    brow_y: float = 0.40
    brow_in: float = 0.028
    brow_out: float = 0.125
    brow_thick: float = 0.015
    brow_taper: float = 0.5
    brow_arch: float = 0.012
    # nose
    nose_tip: float = 0.565
    nose_bridge: float = 0.015
    nose_base: float = 0.037
    # mouth
    mouth_y: float = 0.645
    mouth_w: float = 0.06
    ulip: float = 0.014
    llip: float = 0.018
    bow: float = 0.35
    smile: float = 0.0
    mouth_open: float = 0.0
    teeth: bool = True
    expression: str = "neutral"
    # body
    neck_w: float = 0.11
    shoulder_y: float = 0.9
    shoulder_w: float = 0.34
    neckline: str = "crew"  # crew | vee | scoop | turtle | collar
    neckline_depth: float = 0.04
    # hair
    hair_style: str = "short"  # bald | short | medium | long
    fringe: str = "none"  # none | bangs | side
    part: str = "none"  # none | left | right | centre
    hair_volume: float = 0.02
    hairline: float = 0.7  # hairline height as a fraction of crown_h above cy
    ears_tucked: bool = False
    curly: bool = False
    bun: bool = False
    hair_front: bool = True  # long hair falls in front of the shoulders
    hair_end: float = 0.95
    # accessories
    hat: str = "none"
    hat_line: float = 0.33  # y of the hat's lower edge on the forehead
    glasses: str = "none"  # none | clear | sun
    glasses_shape: str = "round"  # round | rect | aviator
    lens_w: float = 0.05
    lens_h: float = 0.036
    frame_t: float = 0.004
    earrings: str = "none"  # none | stud | hoop | drop
    necklace: str = "none"  # none | chain | pendant
    # pose: rotation about the face centre, scale, translation
    angle: float = 0.0
    scale: float = 1.0
    tx: float = 0.0
    ty: float = 0.0
    detail_seed: int = 0  # outline wisps, freckle placement, sensor noise


def sample_geometry(seed: int) -> Geometry:
    r = Stream(seed, 101)
    u = r.u
    g = Geometry()
    g.cx = 0.5 + u(-0.008, 0.008)
    g.cy = 0.5 + u(-0.015, 0.015)
    g.face_w = u(0.175, 0.21)
    g.crown_h = u(0.31, 0.36)
    g.chin_h = u(0.255, 0.30)
    g.top_n = u(2.3, 3.0)
    g.jaw_n = u(1.9, 2.8)
    g.jaw_taper = u(0.05, 0.35)
    g.yaw = u(-0.18, 0.18) if r.rand() < 0.6 else 0.0
    g.eye_y = g.cy - u(0.035, 0.058)
    g.eye_dx = u(0.068, 0.088)
    g.eye_w = u(0.032, 0.041)
    g.eye_tilt = u(-0.08, 0.18)
    g.iris_r = u(0.42, 0.55)
    g.gaze_x, g.gaze_y = u(-0.3, 0.3), u(-0.15, 0.15)
    g.ear_y = g.eye_y + u(0.02, 0.045)
    g.ear_w, g.ear_h = u(0.018, 0.026), u(0.048, 0.064)
    g.brow_in, g.brow_out = u(0.018, 0.035), g.eye_dx + g.eye_w * u(1.0, 1.35)
    g.brow_thick, g.brow_taper = u(0.009, 0.021), u(0.25, 0.7)
    g.brow_arch = u(0.003, 0.02)
    g.nose_tip = g.cy + u(0.045, 0.075)
    g.nose_bridge, g.nose_base = u(0.011, 0.019), u(0.03, 0.046)
    g.mouth_w = u(0.052, 0.078)
    g.ulip, g.llip, g.bow = u(0.010, 0.02), u(0.013, 0.027), u(0.15, 0.55)
    g.mouth_y = min(g.nose_tip + u(0.06, 0.09), g.cy + g.chin_h - 0.09)
    # expression: each changes a few shapes together
    g.expression = r.pick(
        ["neutral", "smile", "laugh", "talk", "surprise", "frown"], [0.34, 0.22, 0.14, 0.12, 0.1, 0.08]
    )
    eye_open = u(0.45, 0.68)
    brow_lift = 0.0
    if g.expression == "smile":
        g.smile, eye_open = u(0.006, 0.016), eye_open * 0.8
    elif g.expression == "laugh":
        g.smile, g.mouth_open, eye_open = u(0.008, 0.018), u(0.014, 0.032), eye_open * 0.65
    elif g.expression == "talk":
        g.smile, g.mouth_open = u(-0.002, 0.006), u(0.007, 0.018)
    elif g.expression == "surprise":
        g.mouth_open, g.mouth_w, eye_open = u(0.022, 0.04), g.mouth_w * 0.75, eye_open * 1.25
        brow_lift = u(0.008, 0.016)
    elif g.expression == "frown":
        g.smile, brow_lift = u(-0.008, -0.002), -u(0.003, 0.008)
    g.teeth = bool(r.rand() < 0.85)
    g.eye_open = g.eye_w * eye_open
    g.eye_low = g.eye_open * u(0.35, 0.7)
    g.brow_y = g.eye_y - u(0.045, 0.062) - brow_lift
    # body
    g.neck_w = g.face_w * u(0.64, 0.8)
    g.shoulder_y = g.cy + g.chin_h + u(0.05, 0.1)
    g.shoulder_w = u(0.3, 0.4)
    g.neckline = r.pick(["crew", "vee", "scoop", "turtle", "collar"], [0.3, 0.2, 0.2, 0.1, 0.2])
    g.neckline_depth = u(0.02, 0.1)
    # hair
    g.hair_style = r.pick(HAIR_STYLES, [0.07, 0.27, 0.22, 0.44])
    g.fringe = r.pick(["none", "bangs", "side"], [0.55, 0.25, 0.2])
    g.part = r.pick(["none", "left", "right", "centre"], [0.4, 0.22, 0.22, 0.16])
    g.curly = bool(r.rand() < 0.14)
    g.hair_volume = u(0.008, 0.035) * (2.0 if g.curly else 1.0)
    g.hairline = u(0.58, 0.72) if r.rand() > 0.12 else u(0.76, 0.86)
    g.ears_tucked = bool(r.rand() < 0.4)
    g.bun = bool(g.hair_style in ("short", "medium") and r.rand() < 0.18)
    g.hair_front = bool(r.rand() < 0.6)
    g.hair_end = g.cy + g.chin_h + (u(0.15, 0.35) if g.hair_style == "long" else u(-0.12, 0.0))
    # accessories
    g.hat = r.pick(HATS, [0.84, 0.06, 0.05, 0.05])
    g.hat_line = g.brow_y - u(0.03, 0.06)
    g.glasses = r.pick(["none", "clear", "sun"], [0.76, 0.19, 0.05])
    g.glasses_shape = r.pick(["round", "rect", "aviator"])
    g.lens_w, g.lens_h = g.eye_w * u(1.35, 1.75), u(0.026, 0.042)
    g.frame_t = u(0.0025, 0.007)
    g.earrings = r.pick(["none", "stud", "hoop", "drop"], [0.62, 0.14, 0.14, 0.1])
    g.necklace = r.pick(["none", "chain", "pendant"], [0.74, 0.13, 0.13])
    # pose
    g.angle = u(-11, 11)
    g.scale = u(1.02, 1.2)
    g.tx, g.ty = u(-0.035, 0.035), u(-0.03, 0.03)
    g.detail_seed = r.int(0, 2**31 - 1)
    if g.hair_style == "bald":
        g.fringe, g.part, g.bun = "none", "none", False
    return g
