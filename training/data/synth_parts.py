"""Geometry -> label map: draws every part of a synthetic face with OpenCV at the requested size.

Shapes live in canonical coordinates (unit square). A small yaw warp (features with depth shift
toward the compressed side) and the pose (rotation about the face centre, scale, translation) map
them to pixels; polygons are filled with sub-pixel precision (``shift=4``), so the label map is
exact at any size. Besides the label map, ``rasterize`` returns the pixel positions the albedo and
shading stages need (eye centres, lid curves, lens rims, cheeks, hair crown...).

Painter's order (later overwrites earlier): back hair, neck, clothes, necklace, ears, skin, earrings,
nose, glasses, eyes, brows, lips and inner mouth, glasses arms, front hair, hat. Left/right are the
subject's (``engine.labels.LR_PAIRS``): ``l_*`` classes are drawn on the image's right (s = +1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from engine.labels import INDEX
from training.data.synth_hair import draw_back_hair, draw_front_hair, draw_hat
from training.data.synth_params import Geometry
from training.data.synth_shapes import T13, T, Xf, bez, chaikin, ellipse, fill, head_outline, line


@dataclass
class Raster:
    """The label map plus pixel-space landmarks for the albedo and shading stages."""

    label: np.ndarray
    size: int
    face_w: float  # px
    face_c: tuple[float, float]
    crown: tuple[float, float]
    eyes: list[dict] = field(default_factory=list)
    cheeks: list[tuple[float, float]] = field(default_factory=list)
    cheek_r: float = 0.0
    chin: tuple[float, float] = (0.0, 0.0)
    nostrils: list[tuple[float, float]] = field(default_factory=list)
    nostril_r: tuple[float, float] = (1.0, 1.0)
    teeth: np.ndarray | None = None
    lenses: list[np.ndarray] = field(default_factory=list)
    frame_t: int = 1
    part_line: np.ndarray | None = None
    hat_band: np.ndarray | None = None
    lip_line: np.ndarray | None = None
    freckle_pts: np.ndarray | None = None
    ears: list[np.ndarray] = field(default_factory=list)
    tex_offsets: dict[str, tuple[float, float]] = field(default_factory=dict)
    curly: bool = False  # curly silhouettes always get the curly strand texture


def rasterize(g: Geometry, size: int) -> Raster:
    L = np.zeros((size, size), np.uint8)
    xf = Xf(g, size)
    rng = np.random.default_rng([g.detail_seed, 7])
    ids = INDEX
    fw = g.face_w
    lobe = fw * 0.95 + g.ear_w * 0.55

    # -- hair behind the head and shoulders
    draw_back_hair(L, g, xf, rng)

    # -- neck and chest, clothes, necklace
    nw, sy, sw = g.neck_w, g.shoulder_y, g.shoulder_w
    neck = [
        (g.cx - nw, g.cy + g.chin_h * 0.4),
        (g.cx - nw * 1.02, sy - 0.06),
        (g.cx - sw * 0.8, sy + 0.05),
        (g.cx - sw * 0.8, 1.4),
        (g.cx + sw * 0.8, 1.4),
        (g.cx + sw * 0.8, sy + 0.05),
        (g.cx + nw * 1.02, sy - 0.06),
        (g.cx + nw, g.cy + g.chin_h * 0.4),
    ]
    fill(L, xf(neck, -0.3), ids["neck"])
    base_y = sy - 0.045
    dep = g.neckline_depth
    if g.neckline == "vee":
        cut = [(g.cx - nw * 1.1, base_y), (g.cx, base_y + dep * 1.6), (g.cx + nw * 1.1, base_y)]
    elif g.neckline == "scoop":
        cut = bez((g.cx - nw * 1.3, base_y), (g.cx, base_y + dep * 2.2), (g.cx + nw * 1.3, base_y), 12)
    elif g.neckline == "turtle":
        top_y = g.cy + g.chin_h + 0.035
        cut = [(g.cx - nw * 1.08, top_y), (g.cx, top_y + 0.01), (g.cx + nw * 1.08, top_y)]
    else:
        cut = bez((g.cx - nw * 1.1, base_y), (g.cx, base_y + dep * 0.6), (g.cx + nw * 1.1, base_y), 8)
    left = [
        (g.cx - sw - 0.14, 1.4),
        (g.cx - sw - 0.05, sy + 0.09),
        (g.cx - sw * 0.72, sy + 0.005),
        (g.cx - nw * 1.6, sy - 0.035),
    ]
    right = [
        (g.cx + nw * 1.6, sy - 0.035),
        (g.cx + sw * 0.72, sy + 0.005),
        (g.cx + sw + 0.05, sy + 0.09),
        (g.cx + sw + 0.14, 1.4),
    ]
    cloth = np.concatenate(
        [
            chaikin(np.array(left + [tuple(np.asarray(cut)[0])]), 2),
            np.asarray(cut),
            chaikin(np.array([tuple(np.asarray(cut)[-1])] + right), 2),
        ]
    )
    fill(L, xf(cloth, -0.3), ids["cloth"])
    if g.neckline == "collar":
        for s in (-1, 1):
            flap = [
                (g.cx + s * nw * 1.15, base_y - 0.005),
                (g.cx + s * nw * 0.95, base_y - 0.05),
                (g.cx + s * 0.008, base_y + dep * 0.7),
                (g.cx + s * nw * 0.4, base_y + 0.03),
            ]
            fill(L, xf(flap, -0.2), ids["cloth"])
    if g.necklace != "none":
        ry = 0.03 + 0.5 * dep
        chain = ellipse(g.cx, base_y - 0.015, nw * 1.2, ry, 16, t0=0.12 * math.pi, t1=0.88 * math.pi)
        line(L, xf(chain, -0.2), ids["neck_l"], round(max(1.5, xf.px(0.0045))))
        if g.necklace == "pendant":
            pc = xf([(g.cx, base_y - 0.015 + ry + 0.008)], -0.2)[0]
            cv2.circle(
                L, (int(round(pc[0])), int(round(pc[1]))), int(round(max(2, xf.px(0.009)))), ids["neck_l"], -1
            )

    # -- ears, skin, earrings
    ears, ear_px = [], []
    for s, cls in ((-1, ids["r_ear"]), (1, ids["l_ear"])):
        ear = ellipse(g.cx + s * lobe, g.ear_y, g.ear_w, g.ear_h, 16, rot=-s * 0.12, expo=2.2)
        ear[:, 1] -= (ear[:, 1] < g.ear_y) * 0.004  # fuller top
        fill(L, xf(ear, -0.6), cls)
        ears.append(s)
        ear_px.append(
            xf(
                ellipse(
                    g.cx + s * (lobe + g.ear_w * 0.15),
                    g.ear_y - g.ear_h * 0.1,
                    g.ear_w * 0.5,
                    g.ear_h * 0.55,
                    12,
                ),
                -0.6,
            )
        )
    top, jaw = head_outline(g)
    fill(L, xf(np.concatenate([top, jaw]), 0.0), ids["skin"])
    if g.earrings != "none":
        for s in ears:
            lx, ly = g.cx + s * (lobe + 0.004), g.ear_y + g.ear_h * 0.82
            if g.earrings == "stud":
                c = xf([(lx, ly)], -0.6)[0]
                cv2.circle(
                    L,
                    (int(round(c[0])), int(round(c[1]))),
                    int(round(max(1.6, xf.px(0.0065)))),
                    ids["ear_r"],
                    -1,
                )
            elif g.earrings == "hoop":
                ring = ellipse(lx, ly + 0.014, 0.012, 0.015, 16)
                line(L, xf(ring, -0.6), ids["ear_r"], round(max(1.5, xf.px(0.0035))), closed=True)
            else:
                drop = ellipse(lx, ly + 0.016, 0.006, 0.012, 12)
                fill(L, xf(drop, -0.6), ids["ear_r"])
                line(L, xf([(lx, ly), (lx, ly + 0.006)], -0.6), ids["ear_r"], round(max(1, xf.px(0.003))))

    # -- nose
    nt, nb, nbase = g.nose_tip, g.nose_bridge, g.nose_base
    half = [
        (g.cx + nb * 0.8, g.eye_y - 0.008),
        (g.cx + nb * 1.1, nt - 0.04),
        (g.cx + nbase * 0.85, nt - 0.012),
        (g.cx + nbase, nt + 0.002),
        (g.cx + nbase * 0.8, nt + 0.013),
        (g.cx + nbase * 0.35, nt + 0.014),
    ]
    half = np.array(half)
    mirror = half[::-1] * (-1, 1) + (2 * g.cx, 0)
    nose = chaikin(np.concatenate([half, [(g.cx, nt + 0.017)], mirror]), 1)
    fill(L, xf(nose, 1.0), ids["nose"])

    # -- glasses (lenses, bridge); eyes and brows overwrite them
    eye_c = [(g.cx - g.eye_dx, g.eye_y), (g.cx + g.eye_dx, g.eye_y)]
    lenses = []
    if g.glasses != "none":
        for s, (ex, ey) in zip((-1, 1), eye_c, strict=True):
            lx, ly = ex + s * 0.004, ey + 0.004
            if g.glasses_shape == "rect":
                lens = ellipse(lx, ly, g.lens_w, g.lens_h, 24, expo=5.0)
            else:
                lens = ellipse(lx, ly, g.lens_w, g.lens_h, 24)
                if g.glasses_shape == "aviator":
                    low = lens[:, 1] > ly
                    lens[low, 1] = ly + (lens[low, 1] - ly) * (
                        1.25 + 0.15 * s * (lens[low, 0] - lx) / g.lens_w
                    )
            lp = xf(lens, 0.7)
            lenses.append(lp)
            fill(L, lp, ids["eye_g"])
        by = g.eye_y + 0.004 - g.lens_h * 0.35
        bridge = xf(
            [
                (g.cx - g.eye_dx + g.lens_w * 0.95, by),
                (g.cx, by - 0.004),
                (g.cx + g.eye_dx - g.lens_w * 0.95, by),
            ],
            0.8,
        )
        line(L, bridge, ids["eye_g"], round(max(1, xf.px(g.frame_t * 1.3))))

    # -- eyes
    eyes = []
    for s, cls, (ex, ey) in zip((-1, 1), (ids["r_eye"], ids["l_eye"]), eye_c, strict=True):
        ca, sa = math.cos(g.eye_tilt), math.sin(g.eye_tilt)
        outer = (ex + s * g.eye_w * ca, ey - g.eye_w * sa)
        inner = (ex - s * g.eye_w * ca, ey + g.eye_w * sa)
        up = bez(outer, (ex + s * g.eye_w * 0.15, ey - 2 * g.eye_open), inner, 12)
        low = bez(inner, (ex - s * g.eye_w * 0.1, ey + 2 * g.eye_low), outer, 12)
        up_px, low_px = xf(up, 0.5), xf(low, 0.5)
        crease = xf(
            bez(
                (outer[0] + s * 0.003, outer[1] - 0.002),
                (ex + s * g.eye_w * 0.1, ey - 2 * g.eye_open - 0.016),
                (inner[0] - s * 0.002, inner[1] - 0.004),
                12,
            ),
            0.5,
        )
        if g.glasses != "sun":
            fill(L, np.concatenate([up_px, low_px[1:-1]]), cls)
        ir = g.eye_w * g.iris_r
        ic = xf([(ex + g.gaze_x * g.eye_w * 0.4, ey + g.gaze_y * g.eye_open)], 0.5)[0]
        eyes.append(
            {
                "cls": cls,
                "c": tuple(xf([(ex, ey)], 0.5)[0]),
                "iris": tuple(ic),
                "iris_r": xf.px(ir),
                "upper": up_px,
                "lower": low_px,
                "crease": crease,
                "visible": g.glasses != "sun",
            }
        )

    # -- brows
    for s, cls in ((-1, ids["r_brow"]), (1, ids["l_brow"])):
        p0 = (g.cx + s * g.brow_in, g.brow_y + 0.006)
        p2 = (g.cx + s * g.brow_out, g.brow_y + 0.01)
        p1 = (g.cx + s * (g.brow_in + g.brow_out) * 0.55, g.brow_y - 2 * g.brow_arch)
        c = bez(p0, p1, p2, 12)
        th = g.brow_thick * (1 - g.brow_taper * T[12]) * 0.5
        brow = np.concatenate([c - np.stack([0 * th, th], 1), (c + np.stack([0 * th, th], 1))[::-1]])
        fill(L, xf(brow, 0.55), cls)

    # -- lips and inner mouth
    t = T13
    w, my, sm, op = g.mouth_w, g.mouth_y, g.smile, g.mouth_open
    xs = g.cx + t * w
    base = my - sm * t**2 + 0.002 * (1 - t**2)
    U = np.stack([xs, base - op * 0.45 * (1 - t**2) ** 0.8], 1)
    Lo = np.stack([xs, base + op * 0.55 * (1 - t**2) ** 0.8], 1)
    bow = 1 - g.bow * np.exp(-((t / 0.2) ** 2))
    top = np.stack([xs, base - 0.002 - g.ulip * np.sqrt(1 - t**2) * bow - op * 0.45 * (1 - t**2) ** 0.8], 1)
    B = np.stack([xs, base + g.llip * (1 - t**2) ** 0.6 + op * 0.55 * (1 - t**2) ** 0.8], 1)
    fill(L, xf(np.concatenate([top, U[::-1]]), 0.6), ids["u_lip"])
    fill(L, xf(np.concatenate([Lo, B[::-1]]), 0.6), ids["l_lip"])
    teeth = None
    if op > 0.004:
        inner = xf(np.concatenate([U[1:-1], Lo[-2:0:-1]]), 0.6)
        fill(L, inner, ids["mouth"])
        if g.teeth:
            k = np.abs(t) < 0.75
            ub = U[k]
            teeth = xf(np.concatenate([ub, (ub + (0, op * 0.42))[::-1]]), 0.6)

    # -- glasses arms (visible between the lens and the ear)
    if g.glasses != "none":
        for s, (ex, ey) in zip((-1, 1), eye_c, strict=True):
            arm = [
                (ex + s * (g.lens_w * 0.98 + 0.004), ey - g.lens_h * 0.45),
                (g.cx + s * fw * 1.02, g.ear_y - g.ear_h * 0.45),
            ]
            line(L, xf(arm, 0.2), ids["eye_g"], round(max(1, xf.px(g.frame_t))))

    # -- front hair and hat
    crown, part_line = draw_front_hair(L, g, xf, rng)
    hat_band = draw_hat(L, g, xf, rng)

    # -- landmarks for albedo and shading
    cheeks = [
        tuple(p)
        for p in xf([(g.cx - g.eye_dx * 1.05, g.eye_y + 0.07), (g.cx + g.eye_dx * 1.05, g.eye_y + 0.07)], 0.4)
    ]
    nos = xf([(g.cx - nbase * 0.5, nt + 0.008), (g.cx + nbase * 0.5, nt + 0.008)], 1.0)
    box = rng.uniform([-1, -1], [1, 1], (64, 2)) * (fw * 0.7, 0.06) + (g.cx, nt - 0.01)
    fr_pts = xf(box, 0.5)
    return Raster(
        label=L,
        size=size,
        face_w=xf.px(fw),
        face_c=tuple(xf([(g.cx, g.cy)])[0]),
        crown=tuple(xf([crown], 0.0)[0]),
        eyes=eyes,
        cheeks=cheeks,
        cheek_r=xf.px(0.045),
        chin=tuple(xf([(g.cx, g.cy + g.chin_h * 0.85)], 0.3)[0]),
        nostrils=[tuple(p) for p in nos],
        nostril_r=(xf.px(nbase * 0.28), xf.px(0.0055)),
        teeth=teeth,
        lenses=lenses,
        frame_t=round(max(1, xf.px(g.frame_t))),
        part_line=part_line,
        hat_band=hat_band,
        lip_line=xf(np.concatenate([U, Lo[::-1]]) if op > 0.004 else U, 0.6),
        freckle_pts=fr_pts,
        ears=ear_px,
        tex_offsets={k: tuple(rng.uniform(0, 1, 2)) for k in ("fine", "blotch", "sensor")},
        curly=g.curly,
    )
