"""Albedo of a synthetic face: per-class colours modulated by the cached textures.

The albedo is assembled with lookup tables over the label map:

    albedo = base[label] * (1 + sum_k weight_k[label] * texture_k) + clothing pattern + drawn details

Crops of the shared textures are placed by the geometry; colours, weights and pattern choices come
from each region's appearance group, so swapping a group between faces (transfer ground truth)
changes exactly the pixels of that group (plus clear glass, which shows the skin behind it).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from engine.labels import INDEX
from training.data.synth_parts import Raster
from training.data.synth_texture import bank, workspace

_I = INDEX
SKIN_CLASSES = (_I["skin"], _I["nose"], _I["l_ear"], _I["r_ear"], _I["neck"])


def _rgb(v) -> np.ndarray:
    return np.asarray(v, np.float32)


def base_lut(app: dict) -> np.ndarray:
    """(256, 3) float32: the albedo colour of every class before texture."""
    lut = np.zeros((256, 3), np.float32)
    skin = _rgb(app["skin"]["rgb"])
    lut[_I["background"]] = app["background"]["rgb"]
    lut[_I["skin"]] = skin
    lut[_I["nose"]] = skin * (1.02, 0.97, 0.96)
    lut[_I["l_ear"]] = lut[_I["r_ear"]] = skin * (1.0, 0.93, 0.9)
    lut[_I["neck"]] = skin * 0.96
    lut[_I["eye_g"]] = skin * _rgb(app["glasses"]["tint"])
    lut[_I["l_eye"]] = lut[_I["r_eye"]] = app["eyes"]["sclera_rgb"]
    lut[_I["l_brow"]] = lut[_I["r_brow"]] = app["brows"]["rgb"]
    lut[_I["mouth"]] = app["mouth"]["rgb"]
    lut[_I["u_lip"]] = _rgb(app["lips"]["rgb"]) * 0.93
    lut[_I["l_lip"]] = app["lips"]["rgb"]
    lut[_I["hair"]] = app["hair"]["rgb"]
    lut[_I["hat"]] = app["hat"]["rgb"]
    lut[_I["ear_r"]] = lut[_I["neck_l"]] = app["jewelry"]["rgb"]
    lut[_I["cloth"]] = app["cloth"]["rgb"]
    return lut


def _w(pairs) -> np.ndarray:
    lut = np.zeros(256, np.float32)
    for cls, v in pairs:
        lut[cls] = v
    return lut


_SKIN_KEEP = np.zeros(256, np.uint8)
_SKIN_KEEP[list(SKIN_CLASSES)] = 1
_SKIN_KEEP_G = _SKIN_KEEP.copy()
_SKIN_KEEP_G[_I["eye_g"]] = 1
SENSOR_NOISE = 0.012
_ONE = np.eye(256, dtype=np.uint8)  # _ONE[c]: a keep-LUT for class c alone


def albedo(r: Raster, app: dict, sunglasses: bool = False) -> np.ndarray:
    """Per-pixel albedo (H, W, 3) float32, written into this thread's workspace (``ws.alb``)."""
    S, lab = r.size, r.label
    tb, ws = bank(S), workspace(S)
    sk, hr, cl, bg = app["skin"], app["hair"], app["cloth"], app["background"]
    off = r.tex_offsets
    # one-channel modulation (1 + sum of weighted textures); crops of the shared fine and blotch
    # textures depend on the geometry, their weights on each region's appearance
    g_on = 0.0 if sunglasses else 1.0
    fine_w = [(c, sk["pores"]) for c in SKIN_CLASSES] + [
        (_I["eye_g"], sk["pores"] * g_on),
        (_I["l_brow"], 0.2),
        (_I["r_brow"], 0.2),
        (_I["cloth"], cl["weave"]),
        (_I["hat"], 0.12),
        (_I["l_lip"], 0.05),
        (_I["u_lip"], 0.05),
        (_I["mouth"], 0.1),
    ]
    blotch_w = [(c, sk["blotch"]) for c in SKIN_CLASSES] + [
        (_I["eye_g"], sk["blotch"] * g_on),
        (_I["background"], bg["blotch"]),
    ]
    mod, tmp = ws.mod, ws.tmp
    cv2.LUT(lab, _w(fine_w), dst=mod)
    cv2.multiply(mod, tb.crop(tb.pores, off["fine"]), dst=mod)
    cv2.LUT(lab, _w(blotch_w), dst=tmp)
    cv2.accumulateProduct(tmp, tb.crop(tb.blotch, off["blotch"]), mod)
    cv2.LUT(lab, _w([(_I["hair"], hr["strand_contrast"])]), dst=tmp)
    cv2.accumulateProduct(tmp, tb.centred(tb.hair["curly" if r.curly else hr["texture"]], *r.crown), mod)
    if bg["bokeh"] > 0:
        cv2.LUT(lab, _w([(_I["background"], bg["bokeh"])]), dst=tmp)
        cv2.accumulateProduct(tmp, tb.crop(tb.bokeh, bg["tex_offset"]), mod)
    cv2.scaleAdd(tb.crop(tb.sensor, off["sensor"]), SENSOR_NOISE, mod, dst=mod)
    np.add(mod, 1.0, out=mod)
    _skin_details(mod, r, sk, _SKIN_KEEP if sunglasses else _SKIN_KEEP_G)
    lut = base_lut(app)
    for c in range(3):
        cv2.LUT(lab, np.ascontiguousarray(lut[:, c]), dst=ws.ch[c])
    alb = ws.alb
    cv2.merge(ws.ch, dst=alb)
    cv2.cvtColor(mod, cv2.COLOR_GRAY2BGR, dst=ws.mod3)
    cv2.multiply(alb, ws.mod3, dst=alb)
    # two-colour clothing pattern, below the top of the clothes only
    y0 = y0_cloth(lab) if cl["pattern"] != "plain" else S
    if y0 < S:
        m = cv2.compare(lab[y0:], _I["cloth"], cv2.CMP_EQ)
        pat = cv2.multiply(
            tb.crop(tb.patterns[cl["pattern"]], cl["tex_offset"])[y0:], m, scale=1 / 255.0, dtype=cv2.CV_32F
        )
        d = _rgb(cl["rgb2"]) - _rgb(cl["rgb"])
        pat3 = cv2.multiply(cv2.cvtColor(pat, cv2.COLOR_GRAY2BGR), ws.mod3[y0:])
        cv2.scaleAdd(pat3 * d, 1.0, alb[y0:], dst=alb[y0:])
    _details(alb, r, app)
    return alb


def y0_cloth(lab: np.ndarray) -> int:
    """First row that contains clothes (the image height when there are none)."""
    rows = np.flatnonzero((lab == _I["cloth"]).any(1))
    return int(rows[0]) if rows.size else lab.shape[0]


def _box(pts: np.ndarray, pad: float) -> tuple:
    lo, hi = pts.min(0), pts.max(0)
    return (lo[0] - pad, lo[1] - pad, hi[0] + pad, hi[1] + pad)


def _skin_details(mod: np.ndarray, r: Raster, sk: dict, keep_lut: np.ndarray) -> None:
    """Freckles, moles, nostrils, ear folds and lid creases, drawn on skin pixels of ``mod``."""
    S, k = r.size, 16
    lab = r.label
    nf, nm = (sk["freckles"], sk["moles"]) if r.freckle_pts is not None else (0, 0)
    if nf or nm:
        vals = np.random.default_rng([nf, nm, int(sk["tone"] * 1e6)]).uniform(0.1, 0.22, nf)
        pts = np.concatenate([r.freckle_pts[:nf], r.freckle_pts[60 : 60 + nm]])
        fr, mr = int(max(0.5, S / 450) * k), int(max(0.7, S / 300) * k)

        def spots(p, x0, y0):
            for j, q in enumerate(pts):
                if j < nf:
                    cv2.circle(p, _pt(q, x0, y0), fr, float(1 - vals[j]), -1, cv2.LINE_AA, 4)
                else:
                    cv2.circle(p, _pt(q, x0, y0), mr, 0.55, -1, cv2.LINE_AA, 4)

        _clip_draw(mod, lab, keep_lut, _box(pts, 3), spots)
    nos = np.asarray(r.nostrils)
    axes = (int(max(0.8, r.nostril_r[0]) * k), int(max(0.6, r.nostril_r[1]) * k))

    def nostrils(p, x0, y0):
        for q in nos:
            cv2.ellipse(p, _pt(q, x0, y0), axes, 0, 0, 360, 0.4, -1, cv2.LINE_AA, 4)

    _clip_draw(mod, lab, keep_lut, _box(nos, max(r.nostril_r) + 2), nostrils)
    for ear in r.ears:
        _clip_draw(
            mod,
            lab,
            keep_lut,
            _box(ear, 2),
            lambda p, x0, y0, ear=ear: cv2.fillPoly(
                p, [np.rint((ear - (x0, y0)) * k).astype(np.int32)], 0.82, cv2.LINE_AA, 4
            ),
        )
    t = max(1, round(S / 256))
    for e in r.eyes:
        c = e["crease"]
        _clip_draw(
            mod,
            lab,
            keep_lut,
            _box(c, t + 2),
            lambda p, x0, y0, c=c: cv2.polylines(
                p, [np.rint((c - (x0, y0)) * k).astype(np.int32)], False, 0.86, t, cv2.LINE_AA, 4
            ),
        )


def _clip_line(alb, lab, cls_name: str, line, closed: bool, rgb, width: int, box) -> None:
    """An antialiased polyline (1/16 px precision) drawn only where the label is ``cls_name``."""

    def draw(p, x0, y0):
        cv2.polylines(p, [np.rint((line - (x0, y0)) * 16).astype(np.int32)], closed, rgb, width, cv2.LINE_AA, 4)

    _clip_draw(alb, lab, _ONE[_I[cls_name]], box, draw)


def _clip_draw(alb: np.ndarray, lab: np.ndarray, cls, box, draw) -> None:
    """Run ``draw(patch)`` on a copy of a box; keep it where ``cls[label]`` (a 0/1 uint8 LUT) is 1."""
    S = lab.shape[0]
    x0, y0, x1, y1 = (
        int(max(0, math.floor(box[0]))),
        int(max(0, math.floor(box[1]))),
        int(min(S, math.ceil(box[2]) + 1)),
        int(min(S, math.ceil(box[3]) + 1)),
    )
    if x1 <= x0 or y1 <= y0:
        return
    patch = alb[y0:y1, x0:x1]
    new = patch.copy()
    draw(new, x0, y0)
    keep = cls[lab[y0:y1, x0:x1]].view(bool)
    patch[keep] = new[keep]


def _pt(p, x0=0, y0=0, k=16):
    return (int(round((p[0] - x0) * k)), int(round((p[1] - y0) * k)))


def _polyline_fn(pts: np.ndarray, colour, thickness: int, closed: bool = False):
    """A ``draw(patch, x0, y0)`` that draws an anti-aliased polyline in patch coordinates."""

    def draw(p, x0, y0):
        cv2.polylines(
            p, [np.rint((pts - (x0, y0)) * 16).astype(np.int32)], closed, colour, thickness, cv2.LINE_AA, 4
        )

    return draw


def _details(alb: np.ndarray, r: Raster, app: dict) -> None:
    lab, S = r.label, r.size
    ey = app["eyes"]
    iris_rgb = tuple(float(c) for c in ey["iris_rgb"])
    lash = tuple(float(c) for c in ey["lash_rgb"])
    for e in r.eyes:
        if not e["visible"]:
            continue
        ir = e["iris_r"]
        cx, cy = e["iris"]
        box = (cx - ir - 2, cy - ir - 2, cx + ir + 2, cy + ir + 2)

        def draw_iris(p, x0, y0, cx=cx, cy=cy, ir=ir):
            c = _pt((cx, cy), x0, y0)
            cv2.circle(p, c, int(ir * 16), iris_rgb, -1, cv2.LINE_AA, 4)
            dark = tuple(v * 0.55 for v in iris_rgb)
            cv2.circle(p, c, int(ir * 16), dark, max(1, int(ir * 0.18)), cv2.LINE_AA, 4)
            cv2.circle(p, c, int(ir * 0.45 * 16), (0.03, 0.03, 0.03), -1, cv2.LINE_AA, 4)

        _clip_draw(alb, lab, _ONE[e["cls"]], box, draw_iris)
        # the upper lid and lashes shade the top of the eye
        up = e["upper"]
        t_lid = max(1, int(0.3 * (e["lower"][:, 1].max() - up[:, 1].min())))
        shade_col = tuple(float(c) * 0.5 for c in ey["sclera_rgb"])
        _clip_draw(alb, lab, _ONE[e["cls"]], _box(up, t_lid + 2), _polyline_fn(up, shade_col, t_lid))
        # upper lid shadow on the eye, lash line on the skin above it
        up = e["upper"]
        pts = np.rint((up - (0, 0.3)) * 16).astype(np.int32)
        cv2.polylines(alb, [pts], False, lash, max(1, round(S / 200)), cv2.LINE_AA, 4)
    if r.teeth is not None:
        tb = r.teeth
        box = (*tb.min(0), *tb.max(0))
        col = tuple(float(c) for c in app["mouth"]["teeth_rgb"])

        def draw_teeth(p, x0, y0):
            cv2.fillPoly(p, [np.rint((tb - (x0, y0)) * 16).astype(np.int32)], col, cv2.LINE_AA, 4)

        _clip_draw(alb, lab, _ONE[_I["mouth"]], box, draw_teeth)
    if r.lip_line is not None:
        dark = tuple(float(c) * 0.45 for c in app["lips"]["rgb"])
        cv2.polylines(
            alb,
            [np.rint(r.lip_line * 16).astype(np.int32)],
            False,
            dark,
            max(1, round(S / 256)),
            cv2.LINE_AA,
            4,
        )
    frame = tuple(float(c) for c in app["glasses"]["frame_rgb"])
    for lens in r.lenses:  # rims only where the label says glasses
        _clip_line(alb, lab, "eye_g", lens, True, frame, r.frame_t, _box(lens, r.frame_t + 2))
    if r.part_line is not None:
        dark = tuple(float(c) * 0.55 for c in app["hair"]["rgb"])
        pl = r.part_line
        _clip_line(alb, lab, "hair", pl, False, dark, max(1, round(S / 200)), (*pl.min(0) - 3, *pl.max(0) + 3))
    if r.hat_band is not None and len(r.hat_band) > 1:
        dark = tuple(float(c) * 0.7 for c in app["hat"]["rgb"])
        hb = r.hat_band
        _clip_line(alb, lab, "hat", hb, False, dark, max(1, round(S / 128)), (*hb.min(0) - 4, *hb.max(0) + 4))
