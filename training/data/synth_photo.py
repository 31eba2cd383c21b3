"""Photographic variant of the synthetic corpus: domain randomisation aimed at real photographs.

The plain renderer (``synthetic.render_face``) paints "clay-doll" faces: flat albedo, procedural
textures and smooth shading. A parser trained on them alone transfers poorly to photos. Here the
rendered IMAGE is pushed towards photographic statistics while the LABEL map is left untouched (same
geometry, same class per pixel):

- the background (class 0) is replaced by a photographic one (``synth_photo_bg``), with an optional
  soft cast shadow of the person;
- skin classes get pores, fine noise and blotchy redness, plus soft specular highlights on the
  forehead, nose and cheeks placed from the label map;
- hair (class 13) gets strand texture: noise smeared along a flow field that radiates from the crown
  and falls vertically below it (a short line-integral convolution), with sheen along the strands;
- a low-frequency coloured environment light (ambient + directional over a rounded silhouette);
- a camera: aberration, defocus, vignetting, sensor noise, white balance, tone curve, sharpening,
  resampling and JPEG (``synth_photo_cam``).

Each element is randomised and applied with its own probability (``PHOTO_PROB``). ``photographic`` is a
pure function of its inputs; ``render_photo_face`` is deterministic per seed.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from engine.labels import INDEX
from training.data.sample import Sample
from training.data.synth_photo_bg import background, blur, normal_noise, pink_noise
from training.data.synth_photo_cam import degrade, develop, lens, sensor_noise
from training.data.synthetic import render_face

__all__ = ["PHOTO_PROB", "photographic", "render_photo_face", "wants_photo", "photo_rng"]

_I = INDEX
_SKIN = (_I["skin"], _I["nose"], _I["l_ear"], _I["r_ear"], _I["neck"])
_SKIN_LUT = np.zeros(256, np.uint8)
_SKIN_LUT[list(_SKIN)] = 1
_SALT = 0x50_48_4F_54  # separates the photo stream from every stream of the plain renderer

#: Probability of each scene-side element (camera steps: ``synth_photo_cam.CAMERA_PROB``).
PHOTO_PROB = {
    "background": 0.9,
    "shadow": 0.3,
    "skin": 0.85,
    "specular": 0.6,
    "hair": 0.85,
    "light": 0.75,
}


def photo_rng(seed: int) -> np.random.Generator:
    """The generator ``render_photo_face`` uses for ``seed`` (independent of the plain renderer's)."""
    return np.random.default_rng([int(seed) % (1 << 63), _SALT])


def wants_photo(seed: int, p: float) -> bool:
    """Whether face ``seed`` takes the photo variant in a corpus that mixes a fraction ``p`` of them."""
    if p >= 1.0:
        return True
    if p <= 0.0:
        return False
    return bool(np.random.default_rng([int(seed) % (1 << 63), _SALT, 1]).random() < p)


def _centroid(label: np.ndarray, cls: int):
    """(pixel count, centroid (x, y)) of class ``cls``."""
    mo = cv2.moments((label == cls).view(np.uint8), True)
    if mo["m00"] < 1:
        return 0.0, None
    return mo["m00"], np.array([mo["m10"] / mo["m00"], mo["m01"] / mo["m00"]])


def _face_frame(label: np.ndarray):
    """(eye midpoint, eye distance, roll unit vector, up vector) estimated from the label map, or None."""
    S = label.shape[0]
    for pair in ((_I["r_eye"], _I["l_eye"]), (_I["r_brow"], _I["l_brow"])):
        (na, a), (nb, b) = _centroid(label, pair[0]), _centroid(label, pair[1])
        if na <= 3 or nb <= 3:
            continue
        if b[0] < a[0]:
            a, b = b, a
        d = float(np.hypot(*(b - a)))
        if d > S * 0.03:
            ux = (b - a) / d
            mid = (a + b) / 2 + (np.array([0.0, d * 0.1]) if pair[0] == _I["r_brow"] else 0.0)
            return mid, d, ux, np.array([ux[1], -ux[0]])
    n, c = _centroid(label, _I["skin"])
    if n < 50:
        return None
    return c, S * 0.15, np.array([1.0, 0.0]), np.array([0.0, -1.0])


def _skin(rng, img: np.ndarray, label: np.ndarray, frame, ops: list) -> None:
    """Pores, fine noise and blotchy redness inside the skin classes, plus specular highlights."""
    S = img.shape[0]
    m = cv2.LUT(label, _SKIN_LUT)
    if m.sum() < 30:
        return
    k = S / 256
    fine = cv2.GaussianBlur(normal_noise(rng, S, S), (0, 0), rng.uniform(0.5, 0.9) * k)
    fine *= 1.0 / (fine.std() + 1e-6)
    pores = np.minimum(fine + 1.5, 0.0)  # sparse dark dips on top of the fine grain
    blot = pink_noise(rng, S, rng.uniform(0.2, 0.8), coarsest=max(4, S // 32))
    a, p, r = rng.uniform(0.004, 0.018), rng.uniform(0.01, 0.05), rng.uniform(0.005, 0.025)
    lum = (1.0 + a * fine + p * pores) * m
    lum += 1 - m
    red = (r * np.maximum(blot, -0.5)) * m
    img[..., 0] *= lum * (1 + red)
    img[..., 1] *= lum * (1 - 0.5 * red)
    img[..., 2] *= lum * (1 - 0.6 * red)
    ops.append("skin")
    if rng.random() < PHOTO_PROB["specular"]:
        _specular(rng, img, label, frame, fine, ops)


def _specular(rng, img: np.ndarray, label: np.ndarray, frame, fine: np.ndarray, ops: list) -> None:
    """Soft highlights on forehead, nose bridge and tip and cheeks, broken up by the pore texture."""
    if frame is None:
        return
    mid, d, ux, up = frame
    S = img.shape[0]
    shift = rng.normal(0.0, 0.12, 2) * d  # where the light sits moves every highlight a little
    canvas = np.zeros((S, S), np.float32)
    spots = [  # (position in (across, up) eye distances, radii, weight)
        ((0.0, 0.75), (0.45, 0.2), rng.uniform(0.3, 1.0)),  # forehead
        ((0.0, -0.35), (0.08, 0.3), rng.uniform(0.3, 1.0)),  # nose bridge
        ((0.0, -0.75), (0.12, 0.09), rng.uniform(0.5, 1.0)),  # nose tip
        ((-0.55, -0.6), (0.2, 0.14), rng.uniform(0.0, 0.8)),  # cheeks
        ((0.55, -0.6), (0.2, 0.14), rng.uniform(0.0, 0.8)),
    ]
    roll = math.degrees(math.atan2(ux[1], ux[0]))
    for (ax, ay), (rx, ry), w in spots:
        p = mid + ux * (ax * d) + up * (ay * d) + shift
        centre, axes = (int(p[0] * 4), int(p[1] * 4)), (max(1, int(rx * d * 4)), max(1, int(ry * d * 4)))
        cv2.ellipse(canvas, centre, axes, roll, 0, 360, float(w), -1, cv2.LINE_AA, 2)  # 2 fraction bits
    canvas = blur(canvas, d * rng.uniform(0.06, 0.14))
    face = ((label == _I["skin"]) | (label == _I["nose"])).astype(np.float32)
    canvas *= face * (1.0 + 0.15 * np.clip(fine, -2.0, 2.0)) * rng.uniform(0.1, 0.35)
    tint = 1.0 + rng.normal(0.0, 0.04, 3).astype(np.float32)
    img += canvas[..., None] * tint
    ops.append("specular")


def _flow(rng, frame, box):
    """Unit strand directions (dx, dy) over ``box``: radial from the crown, falling vertically below it;
    also the distance from the crown in eye distances. Computed at half resolution (it is smooth)."""
    mid, d, ux, up = frame
    crown = mid + up * d * rng.uniform(1.3, 2.1) + ux * d * rng.normal(0.0, 0.25)
    x0, y0, x1, y1 = box
    h, w = y1 - y0, x1 - x0
    hs, ws = (h + 1) // 2, (w + 1) // 2
    ys, xs = np.mgrid[0:hs, 0:ws].astype(np.float32) * 2.0 + 0.5
    vx, vy = xs + (x0 - crown[0]), ys + (y0 - crown[1])
    fall = np.clip((vy - 0.2 * d) / (0.8 * d), 0.0, 1.0)  # below the crown hair hangs
    rad = np.sqrt(vx * vx + vy * vy) + 1e-3
    ang = np.arctan2(vy / rad * (1 - fall) + fall, vx / rad * (1 - fall))
    ang += pink_noise(rng, max(hs, ws), 1.0)[:hs, :ws] * rng.uniform(0.1, 0.45)
    if rng.random() < 0.4:  # waves along the length of the hair
        lam = d * rng.uniform(0.3, 0.9)
        ang += rng.uniform(0.2, 0.6) * np.sin(rad * (2 * math.pi / lam) + rng.uniform(0, 6.3))
    out = [np.cos(ang), np.sin(ang), rad * (1.0 / d)]
    return [cv2.resize(a.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) for a in out]


def _hair(rng, img: np.ndarray, label: np.ndarray, frame, ops: list) -> None:
    """Strand texture and sheen inside class 13 (noise integrated along the flow field)."""
    S = img.shape[0]
    m8 = (label == _I["hair"]).view(np.uint8)
    if frame is None or cv2.countNonZero(m8) < 30:
        return
    x, y, w, h = cv2.boundingRect(m8)
    pad = 2
    box = (max(0, x - pad), max(0, y - pad), min(S, x + w + pad), min(S, y + h + pad))
    dx, dy, dist = _flow(rng, frame, box)
    x0, y0, x1, y1 = box
    hh, ww = y1 - y0, x1 - x0
    k = S / 256
    noise = normal_noise(rng, hh, ww).copy()
    clumps = cv2.GaussianBlur(normal_noise(rng, hh, ww), (0, 0), 2.0 * k) * 6.0
    noise += clumps * rng.uniform(0.3, 1.0)
    gx, gy = np.meshgrid(np.arange(ww, dtype=np.float32), np.arange(hh, dtype=np.float32))
    # two comb passes (7 taps 1 step apart, then 7 taps 7 steps apart) make one smooth 49-step smear,
    # without the dotted look a single sparse comb gives
    s1 = S * rng.uniform(0.08, 0.2) / 49
    acc = noise
    for step in (s1, 7 * s1):
        out = acc.copy()
        for t in (-3, -2, -1, 1, 2, 3):
            mx, my = gx + dx * (t * step), gy + dy * (t * step)
            out += cv2.remap(acc, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        acc = out
    m = m8[y0:y1, x0:x1].astype(np.float32)
    sel = m > 0
    acc -= acc[sel].mean()
    acc *= 1.0 / (acc[sel].std() + 1e-6)
    acc = np.clip(acc, -2.5, 2.5)
    region = img[y0:y1, x0:x1]
    amp = rng.uniform(0.15, 0.35)
    region *= np.exp(amp * acc * m)[..., None]
    # sheen: a band across the strands where they face the light, brightest on bright strands
    band = np.exp(-(((dist - rng.uniform(0.5, 1.3)) / rng.uniform(0.15, 0.45)) ** 2))
    band *= 0.6 + 0.4 * np.clip(pink_noise(rng, max(hh, ww), 1.5)[:hh, :ww], -1.0, 1.5)
    sheen = band * np.maximum(acc + 0.7, 0.0) * m * rng.uniform(0.04, 0.16)
    tint = region[sel].mean(0)
    region += sheen[..., None] * (0.35 + tint / (tint.max() + 1e-6))
    ops.append("hair")


def _light(rng, img: np.ndarray, label: np.ndarray, ops: list) -> np.ndarray:
    """Multiply by a coloured low-frequency environment light: ambient + one directional light over a
    rounded version of the person's silhouette, plus gentle large-scale variation."""
    S = img.shape[0]
    n = max(16, S // 4)
    fg = cv2.resize((label > 0).astype(np.float32), (n, n), interpolation=cv2.INTER_AREA)
    hgt = cv2.GaussianBlur(fg, (0, 0), n * 0.06)
    gx = cv2.Sobel(hgt, cv2.CV_32F, 1, 0, ksize=3) * (n * 0.35)
    gy = cv2.Sobel(hgt, cv2.CV_32F, 0, 1, ksize=3) * (n * 0.35)
    nz = 1.0 / np.sqrt(1.0 + gx * gx + gy * gy)
    az, el = rng.uniform(0, 2 * math.pi), rng.uniform(0.2, 1.3)
    lx, ly, lz = math.cos(az) * math.cos(el), math.sin(az) * math.cos(el), math.sin(el)
    lam = np.maximum(0.0, (-gx * lx - gy * ly + lz) * nz)
    key = 1.0 + rng.normal(0.0, 0.06, 3)
    amb = 1.0 + rng.normal(0.0, 0.08, 3)
    ka = rng.uniform(0.25, 0.7)  # ambient share
    env = 1.0 + 0.12 * pink_noise(rng, n, 1.5, coarsest=2)
    direct = lam[..., None] * ((1 - ka) / max(lz, 0.3) * key)
    field = ((ka * amb + direct) * env[..., None]).astype(np.float32)
    field *= 1.0 / (field[fg > 0.5].mean() if (fg > 0.5).any() else field.mean())
    s = rng.uniform(0.3, 0.8)
    field = 1.0 + s * (field - 1.0)
    ops.append("light")
    img *= cv2.resize(field, (S, S), interpolation=cv2.INTER_LINEAR)
    return img


def _background(rng, img: np.ndarray, label: np.ndarray, ops: list) -> np.ndarray:
    """Composite a photographic background behind the person (label 0 pixels; soft 1-px seam)."""
    S = img.shape[0]
    bg = background(rng, S)
    fg = (label > 0).astype(np.float32)
    if rng.random() < PHOTO_PROB["shadow"]:
        sh = np.roll(fg, (int(rng.normal(0.03, 0.03) * S), int(rng.normal(0.0, 0.05) * S)), (0, 1))
        sh = blur(sh, S * rng.uniform(0.01, 0.05))
        bg *= (1.0 - rng.uniform(0.15, 0.45) * sh)[..., None]
        ops.append("shadow")
    alpha = cv2.GaussianBlur(1.0 - fg, (0, 0), 0.6 * max(1.0, S / 256))
    alpha = np.maximum(alpha, 1.0 - fg)  # background pixels take the new background fully
    ops.append("background")
    return img + (bg - img) * alpha[..., None]


def photographic(image: np.ndarray, label: np.ndarray, rng_or_seed, size: int | None = None) -> np.ndarray:
    """A photographic-looking version of rendered ``image`` (uint8 RGB) with ``label`` unchanged.

    ``rng_or_seed``: a ``numpy.random.Generator`` or an integer seed (through ``photo_rng``). ``size``,
    when given, must equal the image side (every scale follows the image). Returns a new uint8 (H, W, 3).
    """
    if size is not None and int(size) != image.shape[0]:
        raise ValueError(f"size {size} does not match the image side {image.shape[0]}")
    return _photographic(image, label, rng_or_seed)[0]


def _photographic(image: np.ndarray, label: np.ndarray, rng_or_seed) -> tuple[np.ndarray, list]:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or image.shape[0] != image.shape[1]:
        raise ValueError(f"image must be square uint8 (S, S, 3), got {image.dtype} {image.shape}")
    if label.shape != image.shape[:2]:
        raise ValueError(f"label shape {label.shape} does not match image {image.shape}")
    label = np.ascontiguousarray(label, dtype=np.uint8)
    rng = rng_or_seed if isinstance(rng_or_seed, np.random.Generator) else photo_rng(int(rng_or_seed))
    ops: list[str] = []
    img = image.astype(np.float32) * (1.0 / 255.0)
    if rng.random() < PHOTO_PROB["background"]:
        img = _background(rng, img, label, ops)
    frame = _face_frame(label)
    if rng.random() < PHOTO_PROB["skin"]:
        _skin(rng, img, label, frame, ops)
    if rng.random() < PHOTO_PROB["hair"]:
        _hair(rng, img, label, frame, ops)
    if rng.random() < PHOTO_PROB["light"]:
        img = _light(rng, img, label, ops)
    img = lens(rng, img, ops)
    img = sensor_noise(rng, img, ops)
    return degrade(rng, develop(rng, img, ops), ops), ops


def render_photo_face(seed: int, size: int = 256, lighting=None) -> Sample:
    """``render_face(seed, size, lighting)`` with its image passed through ``photographic``.

    The label is the plain render's exactly; attrs gain ``photo`` (True) and ``photo_ops`` (the elements
    applied, in order). Deterministic per seed.
    """
    plain = render_face(seed, size, lighting)
    img, ops = _photographic(plain.image, plain.label, photo_rng(seed))
    attrs = dict(plain.attrs, photo=True, photo_ops=ops)
    return Sample(img, plain.label, attrs, f"synthetic_photo:{seed}")
