"""Before/after grids on a real photo: detail-preserving vs raw vs whole-face compositing, and the parse
with and without refinement.

    python scripts/photo_grids.py BUNDLE OUTDIR [--parse auto|bundle|layout] [--threads 2] [--runs 5]

The photo is the public-domain astronaut portrait (Eileen Collins, NASA) that scikit-image ships as
``skimage.data.astronaut()`` (pip install scikit-image). The skin-transfer reference is
``resources/samples/face_02_short_hair_dark_skin.png``.

``--parse``: ``bundle`` uses the bundle's parser (refined) for the photo and the reference; ``layout`` a
fixed face-shaped label map placed where the aligner puts a face, softened and refined against the photo
by :mod:`engine.refine` (for an untrained bundle, whose parse is noise); ``auto`` (default) the bundle's
parse when it has skin, hair and lips, else the layout, and says so.

Writes into OUTDIR:
- ``edits.png``: one row per edit (hair colour, lip colour, skin transfer with MRSA, hair reshape); the
  columns are: photo crop | changed (detail-preserving) | raw | whole face | export, changed | export, raw
  (the last two are the full-size exports cut at the crop's footprint, at the photo's own resolution);
- ``parse.png``: the crop | the parse overlay without refinement | with guided filter | with guided filter
  and hair GrabCut (with the fixed layout, the layout itself, softened, is what gets refined);
- ``figures.json`` (also printed): median timings on this machine (ms) of one generator pass, of render
  in raw and changed mode (unedited render cached / not cached), of the export, and of parsing with and
  without refinement.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import labels  # noqa: E402
from engine.bundle import load_bundle  # noqa: E402
from engine.parsing import RefineOptions, make_parser  # noqa: E402
from engine.refine import refine_parse  # noqa: E402
from engine.session import EditSession, FaceEngine  # noqa: E402

REFERENCE = ROOT / "resources" / "samples" / "face_02_short_hair_dark_skin.png"
MODES = ("changed", "raw", "whole")


def astronaut() -> np.ndarray:
    try:
        from skimage import data
    except ImportError:
        sys.exit(
            "photo_grids.py needs scikit-image for its test photo (skimage.data.astronaut()): "
            "pip install scikit-image"
        )
    return np.ascontiguousarray(data.astronaut()[:, :, :3])


def _ms(fn, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 1)


def _interleaved(fns: dict, runs: int) -> dict:
    """Median and minimum ms of each function, timed in alternation so that all see the same background
    load (on a shared machine the minimum is the steadier figure)."""
    times: dict = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(runs):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append((time.perf_counter() - t0) * 1000)
    out = {k: round(statistics.median(v), 1) for k, v in times.items()}
    out.update({k.replace("_ms", "_min_ms"): round(min(v), 1) for k, v in times.items()})
    return out


def _edit_timings(s: EditSession, runs: int) -> dict:
    """Render and export timings of one edit in raw and changed mode (changed: unedited render cached or not)."""
    cache, renderer = s.prepared.cache, s.engine.renderer

    def run(mode: str, full: bool = False, drop_unedited: bool = False):
        def fn():
            s.set_composite(mode)
            cache.detail = None
            if drop_unedited:
                cache.unedited.clear()
            return s.render_full() if full else s.render()

        return fn

    def composite_only():  # the detail composite on a cached generator output and unedited render
        s.set_composite("changed")
        cache.detail = None
        return renderer.detail_result(s.prepared, s.state)

    gen = renderer.generate(s.prepared, s.state)
    renderer.generate = lambda prep, state: gen  # instance attribute: only for composite_only
    try:
        composite_ms = _interleaved({"composite_changed_ms": composite_only}, runs)
    finally:
        del renderer.generate
    return composite_ms | _interleaved(
        {
            "generate_ms": lambda: s.engine.generate(s.prepared, s.state),
            "render_raw_ms": run("raw"),
            "render_changed_cached_ms": run("changed"),
            "render_changed_uncached_ms": run("changed", drop_unedited=True),
            "export_raw_ms": run("raw", full=True),
            "export_changed_ms": run("changed", full=True),
        },
        runs,
    )


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    out = np.full((tile.shape[0] + 22, tile.shape[1], 3), 255, np.uint8)
    out[22:] = tile
    cv2.putText(out, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def _row(tiles: list[tuple[str, np.ndarray]], size: int) -> np.ndarray:
    cells = []
    for text, t in tiles:
        if t.shape[:2] != (size, size):
            t = cv2.resize(
                t, (size, size), interpolation=cv2.INTER_AREA if t.shape[0] > size else cv2.INTER_CUBIC
            )
        cells.append(_label(t, text))
        cells.append(np.full((cells[-1].shape[0], 4, 3), 255, np.uint8))
    return np.hstack(cells[:-1])


def _footprint(session: EditSession, full: np.ndarray) -> np.ndarray:
    """The full-size export cut at the crop's square footprint (the photo's own resolution)."""
    inv = np.linalg.inv(np.vstack([session.prepared.alignment.matrix, [0, 0, 1]]))[:2]
    R = session.prepared.crop.shape[0]
    pts = np.array([[0, 0, 1], [R, 0, 1], [0, R, 1], [R, R, 1]], float) @ inv.T
    h, w = full.shape[:2]
    x0, y0 = (int(np.clip(v, 0, lim)) for v, lim in zip(pts.min(0), (w, h), strict=True))
    x1, y1 = (int(np.clip(v, 0, lim)) for v, lim in zip(pts.max(0), (w, h), strict=True))
    return full[y0:y1, x0:x1]


def grow_hair(mask: np.ndarray) -> np.ndarray:
    """A reshape: the hair made fuller by R/24 px over background and skin (or a fringe if there is none)."""
    R = mask.shape[0]
    hair = (mask == labels.INDEX["hair"]).astype(np.uint8)
    out = mask.copy()
    if hair.sum() < 0.01 * mask.size:
        cv2.ellipse(out, (R // 2, R // 5), (R // 3, R // 8), 0, 0, 360, labels.INDEX["hair"], -1)
        return out
    k = max(3, R // 24) | 1
    grown = cv2.dilate(hair, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))) > 0
    out[grown & np.isin(mask, (labels.INDEX["background"], labels.INDEX["skin"]))] = labels.INDEX["hair"]
    return out


def face_layout(R: int) -> np.ndarray:
    """Labels of a generic aligned face (eyes at y = 0.441 R, 0.173 R apart: engine.face's template)."""
    m = np.zeros((R, R), np.uint8)
    L = labels.INDEX

    def ell(cx, cy, ax, ay, name):
        cv2.ellipse(m, (round(cx * R), round(cy * R)), (max(1, round(ax * R)), max(1, round(ay * R))), 0, 0, 360,
                    L[name], -1)  # fmt: skip

    cv2.rectangle(m, (round(0.12 * R), round(0.86 * R)), (round(0.88 * R), R), L["cloth"], -1)
    cv2.rectangle(m, (round(0.40 * R), round(0.70 * R)), (round(0.60 * R), round(0.90 * R)), L["neck"], -1)
    ell(0.5, 0.40, 0.27, 0.30, "hair")
    ell(0.5, 0.52, 0.19, 0.25, "skin")
    for side, sgn in (("l", -1), ("r", 1)):
        ell(0.5 + sgn * 0.0865, 0.441, 0.035, 0.015, f"{side}_eye")
        ell(0.5 + sgn * 0.09, 0.405, 0.045, 0.010, f"{side}_brow")
        ell(0.5 + sgn * 0.195, 0.50, 0.018, 0.045, f"{side}_ear")
    ell(0.5, 0.53, 0.025, 0.055, "nose")
    ell(0.5, 0.625, 0.055, 0.012, "u_lip")
    ell(0.5, 0.648, 0.050, 0.013, "l_lip")
    return m


def _soft(mask: np.ndarray) -> np.ndarray:
    """Labels -> soft probabilities [19,H,W] (a parser's blurry view of them)."""
    oh = np.eye(labels.NUM_CLASSES, dtype=np.float32)[mask]
    return cv2.GaussianBlur(oh, (0, 0), mask.shape[0] / 128).transpose(2, 0, 1)


def fitted_layout(crop: np.ndarray) -> np.ndarray:
    """The fixed layout refined against the crop (guided filter + hair GrabCut)."""
    return refine_parse(crop, _soft(face_layout(crop.shape[0])))


def _usable(mask: np.ndarray) -> bool:
    present = set(np.unique(mask).tolist())
    lips = {labels.INDEX["u_lip"], labels.INDEX["l_lip"]}
    return {labels.INDEX["skin"], labels.INDEX["hair"]} <= present and bool(lips & present)


def _lips(s: EditSession) -> list[str]:
    return [n for n in ("u_lip", "l_lip") if (s.state.mask == labels.INDEX[n]).any()]


EDITS = {
    "hair colour #b0303a": lambda s, ref: s.color("hair", "#b0303a"),
    "lip colour #c0105a": lambda s, ref: s.color(_lips(s), "#c0105a"),
    "skin transfer (MRSA)": lambda s, ref: (s.set_harmonizer("mrsa", 1.0), s.transfer(ref, ["skin"])),
    "hair reshape": lambda s, ref: s.set_mask(grow_hair(s.state.mask)),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundle", help="model bundle folder")
    ap.add_argument("out", help="folder for the PNGs and figures.json (created)")
    ap.add_argument("--parse", choices=("auto", "bundle", "layout"), default="auto",
                    help="where the label maps come from (see above)")  # fmt: skip
    ap.add_argument("--threads", type=int, default=2, help="torch threads for the timings")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per figure (median)")
    a = ap.parse_args(argv)
    photo = astronaut()
    import torch

    torch.set_num_threads(a.threads)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    bundle = load_bundle(a.bundle, device="cpu")
    engine = FaceEngine(bundle)
    prep = engine.prepare(photo)
    R = engine.resolution
    print(f"bundle {a.bundle} at {R}²; astronaut {photo.shape[1]}×{photo.shape[0]}: {prep.status}")
    ref = engine.prepare(REFERENCE)
    used_layout = False
    if a.parse == "layout" or (
        a.parse == "auto" and not (_usable(prep.parsed_mask) and _usable(ref.parsed_mask))
    ):
        if a.parse == "auto":
            print(
                "the bundle's parse lacks skin, hair or lips (an untrained parser?): using a fixed face layout"
            )
        prep = engine.prepare(photo, alignment=prep.alignment, parsed_mask=fitted_layout(prep.crop))
        print("  (the photo's and the reference's labels: the layout refined against them; see parse.png)")
        ref = engine.prepare(REFERENCE, alignment=ref.alignment, parsed_mask=fitted_layout(ref.crop))
        used_layout = True
    ref_id = engine.add_reference(ref)
    figures: dict = {"resolution": R, "threads": a.threads, "edits": {}}
    rows = []
    for name, edit in EDITS.items():
        s = EditSession(engine, prep)
        edit(s, ref_id)
        tiles = [("photo", prep.crop)]
        for mode in MODES:
            s.set_composite(mode)
            tiles.append((mode if mode != "changed" else "changed (detail)", s.render()))
        fulls = {}
        for mode in ("changed", "raw"):
            s.set_composite(mode)
            fulls[mode] = s.render_full()
            tiles.append((f"export, {mode}", _footprint(s, fulls[mode])))
        rows.append(_label(_row(tiles, max(R, 256)), name))
        f = _edit_timings(s, a.runs)
        figures["edits"][name] = f
    figures["generator_pass_ms"] = _ms(lambda: engine.renderer.generate_unedited(prep, s.state), a.runs)
    width = max(r.shape[1] for r in rows)
    sheet = np.vstack(
        [np.pad(r, ((0, 6), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    )
    cv2.imwrite(str(out / "edits.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"wrote {out / 'edits.png'}")

    # --- the parse, with and without refinement
    crop = prep.crop
    tiles = [("crop", crop)]
    figures["parse_ms"] = {}
    if used_layout:  # refine the fixed layout itself (softened into probabilities) against the photo
        probs = _soft(face_layout(R))
        variants = {
            "layout, plain": lambda: probs.argmax(0).astype(np.uint8),
            "guided filter": lambda: refine_parse(crop, probs, RefineOptions(hair=False)),
            "guided + hair GrabCut": lambda: refine_parse(crop, probs, RefineOptions()),
        }
    else:
        parsers = {
            "parse, plain": make_parser("bundle", bundle=bundle, refine=False),
            "guided filter": make_parser("bundle", bundle=bundle, refine=RefineOptions(hair=False)),
            "guided + hair GrabCut": make_parser("bundle", bundle=bundle, refine=True),
        }
        variants = {name: (lambda p=p: p.parse(crop)) for name, p in parsers.items()}
    for name, fn in variants.items():
        m = fn()
        overlay = (0.45 * crop + 0.55 * labels.COLORS[m]).astype(np.uint8)
        tiles.append((name, overlay))
        figures["parse_ms"][name] = _ms(fn, a.runs)
    figures["parse_source"] = "fixed layout" if used_layout else "bundle parser"
    sheet = _row(tiles, max(R, 256))
    cv2.imwrite(str(out / "parse.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"wrote {out / 'parse.png'}")
    (out / "figures.json").write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    raise SystemExit(main())
