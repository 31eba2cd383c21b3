"""Procedural face corpus: exact labels, controllable lighting and region appearance.

A face is rendered in three stages, each a pure function of its inputs:

1. geometry -> label map (``synth_parts.rasterize``), drawn at the requested size, so labels are exact
   at 128, 256 and 512;
2. appearance -> albedo (``synth_appearance`` samples it, ``synth_albedo.albedo`` paints it with the
   cached textures of ``synth_texture``), colours and textures per region group;
3. lighting -> shading (``synth_shade.shade``): one light for the whole face over a height field.

Because the stages are separate, a relit pair shares geometry, albedo and labels exactly, and the
transfer ground truth (target geometry and lighting, one region group's appearance from another face)
is exact as well. Every seed is deterministic.

Public API: ``render_face``, ``render_relit_pair``, ``render_transfer_gt``, ``render_reshape_pair``
(the same face with one shape change, ``RESHAPES``), ``render_label``,
``class_frequencies``, ``Lighting``/``random_lighting`` and ``tune_allocator`` (the dataset of these
faces, ``SyntheticFaces``, is in ``synthetic_faces``).
A photographic variant of the images (labels unchanged) lives in ``synth_photo``
(``render_photo_face``; ``synthetic_faces.SyntheticFaces(..., photo=True)``).
"""

from __future__ import annotations

import ctypes
import os
import sys

import cv2
import numpy as np

from engine.labels import INDEX, NAMES, NUM_CLASSES
from training.data.sample import Sample
from training.data.synth_albedo import albedo
from training.data.synth_appearance import sample_appearance
from training.data.synth_params import Geometry, Lighting, as_lighting, random_lighting, sample_geometry
from training.data.synth_parts import Raster, rasterize
from training.data.synth_shade import shade
from training.data.synth_texture import workspace

__all__ = [
    "Lighting",
    "random_lighting",
    "render_face",
    "render_relit_pair",
    "render_transfer_gt",
    "render_reshape_pair",
    "RESHAPES",
    "render_label",
    "class_frequencies",
    "TRANSFER_GROUPS",
    "tune_allocator",
]

_I = INDEX
#: Appearance groups that ``render_transfer_gt`` can take from the source, and the classes they paint.
#: Clear glasses show the skin behind them, so a skin transfer also changes ``eye_g`` lens pixels.
TRANSFER_GROUPS: dict[str, tuple[int, ...]] = {
    "skin": (_I["skin"], _I["nose"], _I["l_ear"], _I["r_ear"], _I["neck"]),
    "hair": (_I["hair"],),
    "lips": (_I["u_lip"], _I["l_lip"]),
    "eyes": (_I["l_eye"], _I["r_eye"]),
    "brows": (_I["l_brow"], _I["r_brow"]),
    "cloth": (_I["cloth"],),
    "background": (_I["background"],),
    "hat": (_I["hat"],),
}


_ALLOCATOR_TUNED = False


def tune_allocator() -> bool:
    """Keep freed memory in the heap (glibc ``mallopt``) so big numpy temporaries stop page-faulting.

    Rendering makes many short-lived image-sized arrays; with glibc's defaults each one is mapped
    fresh and page-faulted in, which costs more than the arithmetic. Called once on the first render;
    set ``FACEPAINT_MALLOC_TUNING=0`` to leave the allocator alone. Returns whether it took effect.
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED:
        return True
    _ALLOCATOR_TUNED = True
    if os.environ.get("FACEPAINT_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 16 << 20)) and bool(
            libc.mallopt(m_trim_threshold, 256 << 20)
        )
    except (OSError, AttributeError):
        return False


def _check_size(size: int) -> int:
    if not isinstance(size, (int, np.integer)) or size < 32:
        raise ValueError(f"size must be an integer >= 32, got {size!r}")
    return int(size)


def _attrs(g: Geometry, app: dict, light: Lighting) -> dict:
    style = g.hair_style
    if style != "bald":
        style = "curly" if g.curly or app["hair"]["texture"] == "curly" else ("bun" if g.bun else style)
        if g.fringe == "bangs":
            style += "+bangs"
        elif g.part != "none":
            style += f"+part_{g.part}"
    return {
        "hair_style": style,
        "hair_length": g.hair_style,
        "hair_colour": app["hair"]["colour"],
        "fringe": g.fringe,
        "mouth_open": bool(g.mouth_open > 0.004),
        "expression": g.expression,
        "glasses": g.glasses,
        "hat": g.hat,
        "earrings": g.earrings,
        "necklace": g.necklace,
        "neckline": g.neckline,
        "cloth_pattern": app["cloth"]["pattern"],
        "skin_tone": round(float(app["skin"]["tone"]), 4),
        "skin_rgb": [round(c, 4) for c in app["skin"]["rgb"]],
        "iris": app["eyes"]["iris"],
        "light_dir": [round(c, 4) for c in light.direction],
        "light_colour": [round(c, 4) for c in light.colour],
        "light_intensity": round(light.intensity, 4),
        "pose": {
            "angle": round(g.angle, 3),
            "scale": round(g.scale, 4),
            "yaw": round(g.yaw, 4),
            "tx": round(g.tx, 4),
            "ty": round(g.ty, 4),
        },
    }


def _compose(r: Raster, alb: np.ndarray, light: Lighting, app: dict) -> np.ndarray:
    """Shade an albedo (from ``albedo``) under ``light``; returns a new uint8 RGB image."""
    S = r.size
    ws = workspace(S)
    shade(r, light, app, ws.mult, ws.spec)
    img = ws.img
    cv2.multiply(alb, ws.mult, dst=img)
    cv2.add(img, ws.spec, dst=img)
    # catchlights: the light source reflected in each visible eye
    lx, ly, lz = light.direction
    col = tuple(min(1.0, 0.6 + c * light.intensity) for c in light.colour)
    for e in r.eyes:
        if not e["visible"] or lz < 0.2:
            continue
        ir = e["iris_r"]
        cx, cy = e["iris"][0] + lx * ir * 0.45, e["iris"][1] + ly * ir * 0.45
        x0, y0 = int(max(0, cx - ir)), int(max(0, cy - ir))
        x1, y1 = int(min(S, cx + ir + 2)), int(min(S, cy + ir + 2))
        if x1 <= x0 or y1 <= y0:
            continue
        patch = img[y0:y1, x0:x1]
        new = patch.copy()
        cv2.circle(
            new,
            (int((cx - x0) * 16), int((cy - y0) * 16)),
            int(max(0.8, ir * 0.22) * 16),
            col,
            -1,
            cv2.LINE_AA,
            4,
        )
        keep = r.label[y0:y1, x0:x1] == e["cls"]
        patch[keep] = new[keep]
    cv2.convertScaleAbs(img, dst=ws.u8, alpha=255.0)
    return cv2.GaussianBlur(ws.u8, (3, 3), 0.55)


def _stages(seed: int, size: int):
    if not _ALLOCATOR_TUNED:
        tune_allocator()
    g = sample_geometry(seed)
    app = sample_appearance(seed)
    return g, app, rasterize(g, size)


def render_face(seed: int, size: int = 256, lighting=None) -> Sample:
    """Render synthetic face ``seed`` at ``size`` (its own random light unless ``lighting`` is given)."""
    size = _check_size(size)
    g, app, r = _stages(seed, size)
    light = random_lighting(seed) if lighting is None else as_lighting(lighting)
    img = _compose(r, albedo(r, app, g.glasses == "sun"), light, app)
    return Sample(img, r.label, _attrs(g, app, light), f"synthetic:{seed}")


def render_label(seed: int, size: int = 256) -> np.ndarray:
    """The label map of face ``seed`` alone (cheap: no albedo or shading)."""
    return rasterize(sample_geometry(seed), _check_size(size)).label


def render_relit_pair(seed: int, size: int = 256, light_a=None, light_b=None) -> tuple[Sample, Sample]:
    """The same face (geometry, albedo, labels) under two lights.

    Missing lights default to the face's own light (``a``) and the light of seed ``seed + 7919`` (``b``).
    """
    size = _check_size(size)
    g, app, r = _stages(seed, size)
    la = random_lighting(seed) if light_a is None else as_lighting(light_a)
    lb = random_lighting(seed + 7919) if light_b is None else as_lighting(light_b)
    alb = albedo(r, app, g.glasses == "sun")
    out = []
    for light in (la, lb):
        img = _compose(r, alb, light, app)
        out.append(Sample(img, r.label.copy(), _attrs(g, app, light), f"synthetic:{seed}"))
    return out[0], out[1]


def render_transfer_gt(
    target_seed: int, source_seed: int, regions=("skin",), size: int = 256, lighting=None
) -> tuple[Sample, Sample, np.ndarray]:
    """(target, source, ground truth): the target's geometry and light with the source's appearance
    for the groups in ``regions`` (see ``TRANSFER_GROUPS``; ``skin`` covers skin, nose, ears and neck,
    ``hair`` the hair colour, strand texture and sheen)."""
    size = _check_size(size)
    if isinstance(regions, str):
        regions = (regions,)
    bad = [r for r in regions if r not in TRANSFER_GROUPS]
    if bad or not regions:
        raise ValueError(
            f"unknown transfer region(s) {bad or regions}; choose from {sorted(TRANSFER_GROUPS)}"
        )
    gt_, app_t, r_t = _stages(target_seed, size)
    light = random_lighting(target_seed) if lighting is None else as_lighting(lighting)
    target_alb = albedo(r_t, app_t, gt_.glasses == "sun")
    target = Sample(
        _compose(r_t, target_alb, light, app_t),
        r_t.label,
        _attrs(gt_, app_t, light),
        f"synthetic:{target_seed}",
    )
    source = render_face(source_seed, size)
    app_s = sample_appearance(source_seed)
    mixed = dict(app_t)
    for name in regions:
        mixed[name] = app_s[name]
    gt_img = _compose(r_t, albedo(r_t, mixed, gt_.glasses == "sun"), light, mixed)
    return target, source, gt_img


#: Shape changes with exact ground truth: the same face (appearance, light, texture fields) rendered with
#: one geometry change. Each maps a face's geometry to the changed fields.
RESHAPES = {
    "hair_shorter": lambda g: {"hair_style": "short", "hair_end": min(g.hair_end, 0.7)}
    if g.hair_style in ("medium", "long") else {"hair_volume": max(0.0, g.hair_volume - 0.015)},
    "hair_longer": lambda g: {"hair_style": "long", "hair_end": max(g.hair_end, 0.95)}
    if g.hair_style != "long" else {"hair_volume": g.hair_volume + 0.02},
    "lips_fuller": lambda g: {"ulip": g.ulip * 1.5, "llip": g.llip * 1.5, "mouth_w": g.mouth_w * 1.1},
    "jaw_narrower": lambda g: {"face_w": g.face_w * 0.9, "jaw_taper": min(0.35, g.jaw_taper + 0.06)},
    "glasses_on": lambda g: {"glasses": "clear"} if g.glasses == "none" else {"glasses": "none"},
}


def render_reshape_pair(seed: int, kind: str, size: int = 256) -> tuple[Sample, Sample]:
    """(before, after): face ``seed`` and the same face with the shape change ``kind`` (see
    ``RESHAPES``): the exact ground truth of a mask reshape (albedo textures and light are the same
    fields, so unchanged pixels match exactly)."""
    from dataclasses import replace

    if kind not in RESHAPES:
        raise ValueError(f"unknown reshape {kind!r}; choose from {', '.join(RESHAPES)}")
    size = _check_size(size)
    g, app, r = _stages(seed, size)
    if g.hair_style == "bald" and kind.startswith("hair"):
        g = replace(g, hair_style="short")
        r = rasterize(g, size)
    g2 = replace(g, **RESHAPES[kind](g))
    light = random_lighting(seed)
    out = []
    for geo, ras in ((g, r), (g2, rasterize(g2, size))):
        img = _compose(ras, albedo(ras, app, geo.glasses == "sun"), light, app)
        out.append(Sample(img, ras.label, _attrs(geo, app, light), f"synthetic:{seed}:{kind}"))
    return out[0], out[1]


def class_frequencies(n: int = 500, size: int = 128, first_seed: int = 0) -> dict[str, float]:
    """Fraction of ``n`` faces (seeds ``first_seed..``) whose label map contains each class."""
    counts = np.zeros(NUM_CLASSES, np.int64)
    for s in range(first_seed, first_seed + n):
        present = np.bincount(render_label(s, size).ravel(), minlength=NUM_CLASSES)[:NUM_CLASSES] > 0
        counts += present
    return {name: float(c) / max(n, 1) for name, c in zip(NAMES, counts, strict=True)}
