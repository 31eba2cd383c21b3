"""Save contact sheets of the synthetic corpus, to look at it.

    python scripts/corpus_grids.py out/grids [--size 128] [--seed 0]

Writes into the folder:
- ``samples.png``: a 6x6 grid of faces (seeds seed..seed+35);
- ``labels.png``: their label maps in the legend colours;
- ``relit.png``: six faces, each under two lights side by side (pairs share labels exactly);
- ``transfer.png``: rows of target | source | skin-transfer GT | hair-transfer GT.
"""

from __future__ import annotations

import argparse
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from engine.labels import colorize  # noqa: E402
from training.data.synthetic import (  # noqa: E402
    Lighting,
    render_face,
    render_relit_pair,
    render_transfer_gt,
)


def _grid(tiles: list[np.ndarray], cols: int, pad: int = 2) -> np.ndarray:
    h, w = tiles[0].shape[:2]
    rows = (len(tiles) + cols - 1) // cols
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        out[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = t
    return out


def _save(path: str, rgb: np.ndarray) -> None:
    if not cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="folder for the PNG grids (created)")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    faces = [render_face(a.seed + i, a.size) for i in range(36)]
    _save(os.path.join(a.out, "samples.png"), _grid([f.image for f in faces], 6))
    _save(os.path.join(a.out, "labels.png"), _grid([colorize(f.label) for f in faces], 6))
    left, right = (
        Lighting((-0.75, -0.3, 0.6), intensity=0.85),
        Lighting((0.75, -0.2, 0.63), (0.85, 0.92, 1.0), 0.7),
    )
    tiles = []
    for i in range(6):
        a_, b_ = render_relit_pair(a.seed + i, a.size, left, right)
        tiles += [a_.image, b_.image]
    _save(os.path.join(a.out, "relit.png"), _grid(tiles, 4))
    tiles = []
    for i in range(4):
        t, s, gt_skin = render_transfer_gt(a.seed + 2 * i, a.seed + 2 * i + 1, ("skin",), a.size)
        _, _, gt_hair = render_transfer_gt(a.seed + 2 * i, a.seed + 2 * i + 1, ("hair",), a.size)
        tiles += [t.image, s.image, gt_skin, gt_hair]
    _save(os.path.join(a.out, "transfer.png"), _grid(tiles, 4))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
