"""Shading of a synthetic face: height field -> normals -> one global light.

Works on a half-resolution copy of the label map (shading is smooth, so this costs little). The height
field is built from the geometry: a rounded dome per body part from distance transforms (head with
hair and hat, neck, clothes), plus bumps for the nose, lips, cheeks and chin and dips for the eye
sockets and the open mouth. Normals come from its gradient. One light (direction, colour,
intensity) and an ambient term shade everything alike, with cast shadows marched over the height
field and a cavity term for ambient occlusion:

    image = albedo * tint * (ambient * ao + intensity * colour * diffuse * shadow) + specular

``tint`` holds the low-frequency albedo factors (blush, background gradient, clothing folds); it is
part of the albedo and follows the appearance, never the light.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from engine.labels import INDEX, NAMES
from training.data.synth_params import Lighting
from training.data.synth_parts import Raster
from training.data.synth_texture import bank

_I = INDEX
_HEAD = [_I[n] for n in NAMES[NAMES.index("skin") : NAMES.index("ear_r") + 1]]  # head parts: skin .. earring


def _lut(pairs, dtype=np.float32) -> np.ndarray:
    t = np.zeros(256, dtype)
    for c, v in pairs:
        t[c] = v
    return t


HEAD_LUT = _lut([(c, 1) for c in _HEAD], np.uint8)
# specular strength (broad lobe, sharp lobe) per class
SPEC_BROAD = _lut(
    [
        (_I["skin"], 0.10),
        (_I["nose"], 0.14),
        (_I["neck"], 0.06),
        (_I["l_ear"], 0.06),
        (_I["r_ear"], 0.06),
        (_I["hair"], 0.16),
        (_I["hat"], 0.04),
        (_I["cloth"], 0.03),
        (_I["u_lip"], 0.12),
        (_I["l_lip"], 0.16),
    ]
)
SPEC_SHARP = _lut(
    [
        (_I["l_lip"], 0.25),
        (_I["u_lip"], 0.12),
        (_I["eye_g"], 0.5),
        (_I["ear_r"], 0.9),
        (_I["neck_l"], 0.9),
        (_I["nose"], 0.1),
        (_I["l_eye"], 0.3),
        (_I["r_eye"], 0.3),
    ]
)
SKIN_LUT = _lut([(_I["skin"], 1), (_I["nose"], 1)])


_GRIDS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _grid(n: int):
    if n not in _GRIDS:
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
        _GRIDS[n] = (yy, xx)
    return _GRIDS[n]


def _profile(d: np.ndarray, inv_r, gain) -> np.ndarray:
    """Quarter-circle rise ``gain * sqrt(x (2 - x))`` with ``x = min(d / r, 1)``."""
    x = np.minimum(d * inv_r, np.float32(1.0))
    return np.sqrt(x * (np.float32(2.0) - x)) * gain


# per-class bumps over the distance to the nearest class boundary: (radius, gain), in face half widths
_BUMPS = {
    "nose": (0.16, 1.2),
    "u_lip": (0.06, 0.9),
    "l_lip": (0.06, 0.9),
    "hair": (0.12, 0.7),
    "hat": (0.1, 0.8),
    "neck": (0.5, 0.8),
    "cloth": (0.6, 0.6),
    "l_ear": (0.12, 0.4),
    "r_ear": (0.12, 0.4),
    "ear_r": (0.03, 1.0),
    "neck_l": (0.03, 1.0),
}
_BUMP_R = _lut([(_I[n], v[0]) for n, v in _BUMPS.items()])
_BUMP_G = _lut([(_I[n], v[0] * v[1]) for n, v in _BUMPS.items()])
# constant offsets: the head stands in front of the body; glasses float, brows sit proud, the mouth dips
_PLATEAU = _lut([(c, 0.35) for c in _HEAD])
_PLATEAU[_I["eye_g"]] += 0.05
_PLATEAU[_I["l_brow"]] += 0.02
_PLATEAU[_I["r_brow"]] += 0.02
_PLATEAU[_I["mouth"]] -= 0.08
_K2 = np.ones((2, 2), np.uint8)


def height_field(r: Raster, lab: np.ndarray, k: float) -> np.ndarray:
    """Height (in low-res pixels) at low resolution; ``k`` = low-res / full-res scale."""
    R = np.float32(r.face_w * k)
    head = cv2.LUT(lab, HEAD_LUT)
    d = cv2.distanceTransform(head, cv2.DIST_L2, 3)
    H = _profile(d, np.float32(1 / (0.35 * R)), R * np.float32(0.35))
    # the head is rounder across than down: a gentle horizontal curvature over the head
    _, xx = _grid(lab.shape[0])
    u = (xx - np.float32(r.face_c[0] * k)) * np.float32(1.0 / (1.7 * R))
    H += np.maximum(1.0 - u * u, 0.0) * head * (R * 0.6)
    # one distance transform to the nearest class boundary drives every part's own bump
    inside = (cv2.morphologyEx(lab, cv2.MORPH_GRADIENT, _K2) == 0).astype(np.uint8)
    d = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    rad = cv2.LUT(lab, _BUMP_R)
    H += _profile(d, 1.0 / (rad * R + 1e-3), cv2.LUT(lab, _BUMP_G) * R)
    H += cv2.LUT(lab, _PLATEAU) * R
    # soft bumps and dips drawn at the landmarks, smoothed with everything else below
    bumps = np.zeros_like(H)
    cr = max(1, int(r.cheek_r * k))
    for x, y in r.cheeks:
        cv2.circle(bumps, (int(x * k), int(y * k)), cr, float(R * 0.09), -1)
    cv2.circle(bumps, (int(r.chin[0] * k), int(r.chin[1] * k)), max(1, int(cr * 0.8)), float(R * 0.05), -1)
    for e in r.eyes:
        cv2.circle(
            bumps,
            (int(e["c"][0] * k), int(e["c"][1] * k)),
            max(1, int(e["iris_r"] * k * 2.3)),
            float(-R * 0.09),
            -1,
        )
    bumps *= head
    H += cv2.GaussianBlur(bumps, (0, 0), max(1.0, cr * 0.6))
    return cv2.GaussianBlur(H, (0, 0), max(0.8, 1.2 * lab.shape[0] / 128))


def tint_map(r: Raster, lab: np.ndarray, app: dict, k: float) -> list[np.ndarray]:
    """Low-frequency albedo factors at low resolution, one (n, n) map per colour channel."""
    n = lab.shape[0]
    base = np.ones((n, n), np.float32)
    folds = bank(r.size).crop(bank(r.size).blotch, app["cloth"]["tex_offset"][::-1])
    folds = cv2.resize(folds, (n, n), interpolation=cv2.INTER_AREA)
    base += (lab == _I["cloth"]) * folds * np.float32(0.07)
    bgm = (lab == _I["background"]).astype(np.float32)
    ramp = np.linspace(0, 1, n, dtype=np.float32)[:, None] * bgm
    sk, bg = app["skin"], app["background"]
    blush = None
    if sk["blush"] > 0:
        b = np.zeros((n, n), np.float32)
        cr = max(1, int(r.cheek_r * k * 0.9))
        for x, y in r.cheeks:
            cv2.circle(b, (int(x * k), int(y * k)), cr, 1.0, -1)
        blush = cv2.GaussianBlur(b, (0, 0), cr * 0.7) * cv2.LUT(lab, SKIN_LUT) * np.float32(sk["blush"])
    out = []
    for c, bc in enumerate((0.05, -0.1, -0.08)):
        t = base + ramp * np.float32(bg["rgb_bottom"][c] / max(bg["rgb"][c], 0.02) - 1)
        if blush is not None:
            t += blush * np.float32(bc)
        out.append(t)
    return out


def _lowres(size: int) -> int:
    return min(size // 2, 128)


def shade(r: Raster, light: Lighting, app: dict, mult_out: np.ndarray, spec_out: np.ndarray) -> None:
    """Fill ``mult_out`` and ``spec_out`` (full size, (H, W, 3) float32): image = albedo * mult + spec."""
    S = r.size
    n = _lowres(S)
    k = n / S
    lab = cv2.resize(r.label, (n, n), interpolation=cv2.INTER_NEAREST)
    H = height_field(r, lab, k)
    gx = cv2.Sobel(H, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    gy = cv2.Sobel(H, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    fg = (lab != _I["background"]).astype(np.float32)  # the background wall is flat
    inv = 1.0 / np.sqrt(gx * gx + gy * gy + 1.0)
    nx, ny = -gx * inv * fg, -gy * inv * fg
    nz = inv * fg + (1.0 - fg)
    lx, ly, lz = light.direction
    diffuse = nx * np.float32(lx) + ny * np.float32(ly) + nz * np.float32(lz)
    diffuse = np.clip((diffuse + np.float32(0.12)) * np.float32(1 / 1.12), 0.0, 1.0)
    # cast shadows: march toward the light over the height field
    lxy = math.hypot(lx, ly)
    shadow = None
    if lxy > 0.05:
        ux, uy, slope = lx / lxy, ly / lxy, lz / lxy
        occ = np.zeros_like(H)
        for t in (1.5, 3.0, 5.0, 8.0, 13.0, 20.0):
            t = t * n / 128.0
            M = np.float32([[1, 0, t * ux], [0, 1, t * uy]])
            Hs = cv2.warpAffine(
                H, M, (n, n), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
            )
            Hs -= H
            Hs -= np.float32(t * slope)
            Hs *= np.float32(1.0 / (1.0 + 0.15 * t))
            np.maximum(occ, Hs, out=occ)
        np.clip(occ, 0.0, 1.0, out=occ)
        shadow = 1.0 - (0.3 + 0.5 * fg) * occ
        diffuse *= shadow
    # ambient occlusion from cavities, hemisphere ambient (more from above)
    R = np.float32(r.face_w * k)
    Hb = cv2.GaussianBlur(H, (0, 0), max(2.0, n / 24))
    ao = 1.0 - np.clip((Hb - H) / (0.6 * R), 0.0, 0.45)
    amb = ao * (0.85 - 0.15 * ny) * np.float32(light.ambient)
    diffuse *= np.float32(light.intensity)
    # Blinn-Phong specular with two lobes
    hx, hy, hz = lx, ly, lz + 1.0
    hn = 1.0 / math.sqrt(hx * hx + hy * hy + hz * hz)
    ndh = np.clip(
        (nx * np.float32(hx) + ny * np.float32(hy) + nz * np.float32(hz)) * np.float32(hn), 0.0, 1.0
    )
    p = ndh * ndh
    p *= p
    p *= p
    p *= p  # ** 16
    p64 = p * p
    p64 *= p64
    hair = lab == _I["hair"]
    spec = cv2.LUT(lab, SPEC_BROAD) * p * (0.5 + hair * np.float32(app["hair"]["sheen"]))
    spec += cv2.LUT(lab, SPEC_SHARP) * p64
    # hair: Kajiya-Kay highlight across strands that run away from the crown
    if hair.any():
        yy, xx = _grid(n)
        tx, ty = xx - np.float32(r.crown[0] * k), yy - np.float32(r.crown[1] * k)
        tn = 1.0 / np.sqrt(tx * tx + ty * ty + 1e-3)
        tx *= tn
        ty *= tn
        tdn = tx * nx + ty * ny
        tx, ty, tz = tx - tdn * nx, ty - tdn * ny, -tdn * nz
        th = (tx * np.float32(hx) + ty * np.float32(hy) + tz * np.float32(hz)) * np.float32(hn)
        th /= np.sqrt(tx * tx + ty * ty + tz * tz + 1e-6)
        s2 = np.clip(1.0 - th * th, 0.0, 1.0)  # sin ** 2
        s2 *= s2
        s2 *= s2
        s2 *= s2
        s2 *= s2  # sin ** 32
        spec += hair * s2 * np.float32(0.1 * app["hair"]["sheen"])
    spec *= np.float32(light.intensity)
    if shadow is not None:
        spec *= shadow
    col = light.colour
    amb_col = [0.5 * c + 0.5 for c in col]  # ambient is whiter than the key light
    tint = tint_map(r, lab, app, k)
    m3 = cv2.merge(
        [(amb * np.float32(amb_col[c]) + diffuse * np.float32(col[c])) * tint[c] for c in range(3)]
    )
    s3 = cv2.merge([spec * np.float32(col[c]) for c in range(3)])
    cv2.resize(m3, (S, S), dst=mult_out, interpolation=cv2.INTER_LINEAR)
    cv2.resize(s3, (S, S), dst=spec_out, interpolation=cv2.INTER_LINEAR)
