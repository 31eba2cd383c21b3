"""Screenshots of the canvas on a real photo, at fit-to-window and at 100 %, before and after a hair
recolour and a painted hair reshape (offscreen), plus the full-size exports.

    python scripts/photo_views.py OUT_DIR [--photo FILE] [--bundle DIR] [--size 1400x900]

Files: 01_fit_before, 02_fit_recolour, 03_100_recolour, 04_fit_reshape, 05_100_reshape (canvas grabs,
result view, overlay off), export_recolour.png, export_reshape.png. The 100 % shots are centred on
the hair's edge, where halos and staircases would show.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="photo_views.py")
    ap.add_argument("out", type=Path)
    ap.add_argument("--photo", help="photo (default: the bundled astronaut)")
    ap.add_argument("--bundle")
    ap.add_argument("--size", default="1400x900")
    a = ap.parse_args(argv)

    import numpy as np

    from benchmarks.harness import harness, send_mouse
    from engine.bundle import resources_dir
    from engine.imageio import save_image
    from engine.labels import INDEX
    from engine.session import EditSession

    a.out.mkdir(parents=True, exist_ok=True)
    photo = a.photo or str(resources_dir() / "samples" / "astronaut.jpg")
    size = tuple(int(v) for v in a.size.lower().split("x"))
    with harness({"bundle": a.bundle, "photo": photo, "size": size, "timeout_s": 300.0}) as h:
        ctl, canvas = h.ctl, h.canvas
        canvas.set_mode("result")
        canvas.set_overlay_opacity(0.0)
        R = ctl.doc.resolution
        hair = INDEX["hair"]

        def shot(name: str) -> None:
            h.settle()
            for _ in range(3):
                h.app.processEvents()
            path = a.out / f"{name}.png"
            canvas.grab().save(str(path))
            print(path)

        def hair_edge_photo_point():
            m = ctl.doc.state.mask == hair
            ys, xs = np.nonzero(m)
            if not len(ys):
                return canvas.frame.crop_corners().mean(axis=0)
            y = int(np.percentile(ys, 30))
            row = np.flatnonzero(m[y])
            return np.array(canvas.frame.crop_to_photo(row.max() + 0.5, y + 0.5))  # its right edge

        def at_100(name: str) -> None:
            canvas.view.actual_size(tuple(hair_edge_photo_point()))
            canvas.update()
            shot(name)
            canvas.fit()

        def export(name: str) -> None:
            s = EditSession(h.client.engine, ctl.doc.prepared, ctl.doc.state)
            save_image(a.out / f"{name}.png", s.render_full())
            print(a.out / f"{name}.png")

        canvas.fit()
        shot("01_fit_before")
        ctl.set_color(hair, (150, 40, 170))
        shot("02_fit_recolour")
        at_100("03_100_recolour")
        export("export_recolour")
        # paint the hair longer on the image's left, down past the ear
        ctl.select_region(hair)
        crop_px = ctl.doc.photo_px * ctl.doc.prepared.work_scale  # photo px per crop px
        h.win.toolbar.size.setValue(max(2, round(ctl.doc.prepared.parsed_mask.shape[0] / 16 * crop_px)))
        m = ctl.doc.state.mask == hair
        ys, xs = np.nonzero(m)
        x = float(np.percentile(xs, 5)) + 1
        y0, y1 = float(np.percentile(ys, 60)), min(R - 2.0, float(ys.max()) + R * 0.2)
        send_mouse(canvas, "press", x, y0)
        for k in range(1, 11):
            send_mouse(canvas, "move", x + (k % 2) * 0.5, y0 + (y1 - y0) * k / 10)
            h.app.processEvents()
        send_mouse(canvas, "release", x, y1)
        shot("04_fit_reshape")
        at_100("05_100_reshape")
        export("export_reshape")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
