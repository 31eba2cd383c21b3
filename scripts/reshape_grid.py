"""Grids of photographic reshapes on real portraits: hair shortened, hair lengthened, lips fuller, jaw
narrower, glasses added; each as the raw generator, the painted reshape (composite 'changed') and the
moving reshape (composite 'moved', the default).

    python scripts/reshape_grid.py OUT_DIR PHOTO [PHOTO ...] [--bundle DIR] [--cell 320]

For every photo, OUT_DIR/<name>_reshapes.png: one row per edit, columns photo | raw | changed (reshapes painted) | moved (the default),
each the full-size export cropped to the face and scaled to ``--cell`` px. Also prints, per edit, the
real-photo measures of engine.reshape_metrics (detail kept inside reshaped regions, seam energy).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def edited_masks(mask, R):
    """The five reshapes as label maps edited the way a user would paint them; ``R`` is the side of
    ``mask`` (the networks' grid or the finer working grid: sizes scale with it)."""
    import cv2
    import numpy as np

    from engine.labels import INDEX

    hair, skin, bg = INDEX["hair"], INDEX["skin"], INDEX["background"]
    yy = np.mgrid[:R, :R][0]
    out = {}
    m = mask.copy()
    low = (mask == hair) & (yy > R * 0.5)
    m[low] = bg
    out["hair shorter"] = m
    m = mask.copy()
    # the kernel reaches upwards from its anchor (its bottom row), so hair grows downwards
    down = cv2.dilate((mask == hair).astype(np.uint8), np.ones((R // 6, 5), np.uint8), anchor=(2, R // 6 - 1)) > 0
    m[down & np.isin(mask, [bg])] = hair
    out["hair longer"] = m
    # each lip grown outwards into the skin beside it, the upper one upwards, the lower one downwards
    m = mask.copy()
    g = max(2, R // 64)  # 2 crop px at any grid
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * g + 1, 2 * g + 1))
    for lip in (INDEX["u_lip"], INDEX["l_lip"]):
        grow = cv2.dilate((mask == lip).astype(np.uint8), disc) > 0
        m[grow & (mask == skin) & (m == skin)] = lip
    out["lips fuller"] = m
    # the jaw pulled in: skin within a few px of the face's outline below the mouth takes the class
    # just outside it (background, neck, hair), as a user painting the outline inwards would
    m = mask.copy()
    skin_m = mask == skin
    outside = ~np.isin(mask, [skin, INDEX["nose"], INDEX["mouth"], INDEX["u_lip"], INDEX["l_lip"],
                              INDEX["l_eye"], INDEX["r_eye"], INDEX["l_brow"], INDEX["r_brow"], INDEX["eye_g"]])
    dist, lab = cv2.distanceTransformWithLabels((~outside).astype(np.uint8), cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    oy, ox = np.nonzero(outside)
    order = np.zeros(int(lab.max()) + 1, np.int64)
    order[lab[outside]] = np.arange(len(oy))
    nearest = mask[oy[order[lab]], ox[order[lab]]]
    mouth_y = np.nonzero(np.isin(mask, [INDEX["u_lip"], INDEX["l_lip"]]))[0]
    below = yy > (mouth_y.mean() if len(mouth_y) else R * 0.6)
    jaw = skin_m & below & (dist <= max(2, R // 40))
    m[jaw] = nearest[jaw]
    out["jaw narrower"] = m
    m = mask.copy()
    eyes = np.isin(mask, [INDEX["l_eye"], INDEX["r_eye"]])
    if eyes.any():
        ys, xs = np.nonzero(eyes)
        cy, x0, x1 = int(ys.mean()), int(xs.min()), int(xs.max())
        r = max(3, int((x1 - x0) * 0.18))
        frame = np.zeros_like(mask)
        for cx in (x0 + r, x1 - r):
            cv2.circle(frame, (cx, cy), r + 1, 1, max(1, R // 96))
        cv2.line(frame, (x0 + 2 * r, cy), (x1 - 2 * r, cy), 1, max(1, R // 96))
        m[frame > 0] = INDEX["eye_g"]
    out["glasses added"] = m
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="reshape_grid.py")
    ap.add_argument("out", type=Path)
    ap.add_argument("photos", nargs="+")
    ap.add_argument("--bundle")
    ap.add_argument("--cell", type=int, default=320)
    a = ap.parse_args(argv)

    import cv2
    import numpy as np

    from engine.bundle import default_bundle_path, load_bundle
    from engine.imageio import save_image
    from engine.reshape_metrics import reshape_measures
    from engine.session import EditSession, FaceEngine

    a.out.mkdir(parents=True, exist_ok=True)
    eng = FaceEngine(load_bundle(a.bundle or default_bundle_path(), device="cpu"))
    R = eng.resolution
    report = {}
    for photo in a.photos:
        prep = eng.prepare(photo)
        corners = prep.alignment.to_photo([[0, 0], [R, 0], [0, R], [R, R]])
        H, W = prep.photo.rgb.shape[:2]
        x0, y0 = (max(0, int(v)) for v in corners.min(0))
        x1, y1 = int(min(W, corners[:, 0].max())), int(min(H, corners[:, 1].max()))

        def cell(img, box=(x0, y0, x1, y1)):
            bx0, by0, bx1, by1 = box
            face = np.ascontiguousarray(img[by0:by1, bx0:bx1])
            return cv2.resize(face, (a.cell, a.cell), interpolation=cv2.INTER_AREA)

        rows = []
        name = Path(photo).stem
        # painted on the working grid, as the editor paints (its edges are finer than the networks')
        work = prep.work_mask
        for edit, mask in edited_masks(work, work.shape[0]).items():
            cells = [cell(prep.photo.rgb)]
            outs = {}
            for mode in ("raw", "changed", "moved"):
                s = EditSession(eng, prep)
                s.set_composite(mode)
                s.set_mask(mask)
                outs[mode] = s.render_full()
                cells.append(cell(outs[mode]))
            rows.append(np.concatenate(cells, 1))
            report.setdefault(name, {})[edit] = {
                mode: reshape_measures(prep, mask, out) for mode, out in outs.items()
            }
        save_image(a.out / f"{name}_reshapes.png", np.concatenate(rows, 0))
        print(a.out / f"{name}_reshapes.png")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
