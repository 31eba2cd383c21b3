"""The ``reshape`` block of ``evaluation.json``: mask reshapes against exact ground truth.

The corpus renders the same face with one shape change (``training.data.synthetic.RESHAPES``: hair
shorter or longer, fuller lips, a narrower jaw, glasses on/off). The first render is prepared with its
exact label map, its mask is replaced by the second render's, and the result is compared with the
second render inside the changed pixels (dilated by 2 px), for three ways of filling them:

- ``raw``: the generator's output itself;
- ``changed``: reshaped pixels painted (colour- and grain-matched generated pixels over the photo);
- ``moved``: the default, the moving reshape (``engine.reshape``).

Measures per way and per change: ``psnr`` (dB), ``detail_corr`` (correlation of the high-pass, σ 1 px,
with the ground truth's: texture in the right place) and ``detail_ratio`` (the high-pass level relative
to the ground truth's: 1 = as much detail, 0 = flat). The corpus is what the generator was trained on,
so ``raw`` is at home here; on real photos see ``engine.reshape_metrics``.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["MODES", "reshape_report"]

MODES = ("raw", "changed", "moved")


def _hp(img: np.ndarray) -> np.ndarray:
    g = img.astype(np.float32).mean(-1)
    return g - cv2.GaussianBlur(g, (0, 0), 1.0)


def _measures(img: np.ndarray, gt: np.ndarray, zone: np.ndarray) -> dict:
    d = (img.astype(np.float64) - gt.astype(np.float64))[zone]
    mse = max(float((d**2).mean()), 1e-9)
    a, b = _hp(img)[zone], _hp(gt)[zone]
    corr = float(np.corrcoef(a, b)[0, 1]) if a.std() > 1e-6 and b.std() > 1e-6 else 0.0
    return {"psnr": 10 * np.log10(255.0**2 / mse), "detail_corr": corr,
            "detail_ratio": float(a.std() / max(b.std(), 1e-6))}  # fmt: skip


def reshape_report(bundle, *, seeds=(20_000, 20_001, 20_002), kinds=None) -> dict:
    """{kind: {mode: {psnr, detail_corr, detail_ratio}}, "mean": {mode: ...}, "faces": n} for ``bundle``."""
    from engine.face import whole_image_alignment
    from engine.faceengine import FaceEngine
    from training.data.synthetic import RESHAPES, render_reshape_pair

    eng = FaceEngine(bundle)
    R = eng.resolution
    kinds = tuple(kinds or RESHAPES)
    acc: dict = {k: {m: [] for m in MODES} for k in kinds}
    n = 0
    for kind in kinds:
        for seed in seeds:
            before, after = render_reshape_pair(seed, kind, R)
            zone = cv2.dilate((before.label != after.label).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
            if zone.sum() < 20:
                continue
            n += 1
            prep = eng.prepare(before.image, alignment=whole_image_alignment(before.image, R),
                               parsed_mask=before.label)  # fmt: skip
            state = eng.initial_state(prep).with_mask(after.label)
            outs = {"raw": eng.generate(prep, state)}
            for mode in ("changed", "moved"):
                outs[mode] = eng.render(prep, state.with_settings(composite=mode))
            for mode, img in outs.items():
                acc[kind][mode].append(_measures(img, after.image, zone))

    def mean(rows):
        return {k: round(float(np.mean([r[k] for r in rows])), 4) for k in rows[0]} if rows else None

    report = {kind: {m: mean(v) for m, v in modes.items()} for kind, modes in acc.items()}
    report["mean"] = {m: mean([r for modes in acc.values() for r in modes[m]]) for m in MODES}
    report["faces"] = n
    return report
