"""Write the curated sample faces in ``resources/samples/`` (rendered by our own synthetic corpus).

    python scripts/make_samples.py [--out resources/samples] [--size 512]

Eight faces chosen by their attributes (hair styles, skin tones, glasses, open mouth, hat...) from the
first seeds that match, lit from the front so they make good editing examples. Writes one PNG per
face and a README listing the seeds, so anyone can re-render them with
``training.data.synthetic.render_face(seed, 512)``.
"""

from __future__ import annotations

import argparse
import os
import sys

import cv2

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from training.data.synth_appearance import sample_appearance  # noqa: E402
from training.data.synth_params import random_lighting, sample_geometry  # noqa: E402
from training.data.synthetic import render_face  # noqa: E402

# (file name, description, predicate over geometry g and appearance a)
WANTED = [
    (
        "long_hair",
        "long hair, light skin",
        lambda g, a: (
            g.hair_style == "long"
            and g.fringe == "none"
            and g.hat == "none"
            and a["skin"]["tone"] < 0.3
            and g.glasses == "none"
        ),
    ),
    (
        "short_hair_dark_skin",
        "short hair, dark skin",
        lambda g, a: (
            g.hair_style == "short"
            and g.fringe == "none"
            and a["skin"]["tone"] > 0.75
            and g.hat == "none"
            and g.glasses == "none"
        ),
    ),
    (
        "glasses",
        "clear glasses",
        lambda g, a: g.glasses == "clear" and g.hat == "none" and g.hair_style in ("medium", "long"),
    ),
    (
        "open_mouth",
        "laughing, open mouth",
        lambda g, a: (
            g.expression == "laugh" and g.hat == "none" and g.glasses == "none" and g.hair_style != "bald"
        ),
    ),
    (
        "bald",
        "bald, medium skin",
        lambda g, a: g.hair_style == "bald" and g.hat == "none" and 0.3 < a["skin"]["tone"] < 0.7,
    ),
    (
        "bangs",
        "bangs",
        lambda g, a: g.fringe == "bangs" and g.hat == "none" and g.glasses == "none" and not g.curly,
    ),
    (
        "hat",
        "hat and earrings",
        lambda g, a: g.hat != "none" and g.earrings != "none" and g.glasses == "none",
    ),
    ("curly", "curly hair", lambda g, a: g.curly and g.hat == "none" and g.glasses == "none"),
]


def choose_seeds(limit: int = 20000) -> list[tuple[str, str, int]]:
    found: dict[str, int] = {}
    used: set[int] = set()
    for seed in range(limit):
        light = random_lighting(seed)
        if light.direction[2] < 0.8 or light.intensity < 0.75:
            continue
        g, a = sample_geometry(seed), sample_appearance(seed)
        if abs(g.angle) > 6 or abs(g.yaw) > 0.1:
            continue
        for name, _, pred in WANTED:
            if name not in found and seed not in used and pred(g, a):
                found[name] = seed
                used.add(seed)
        if len(found) == len(WANTED):
            break
    missing = [n for n, _, _ in WANTED if n not in found]
    if missing:
        raise RuntimeError(f"no seed below {limit} matches: {missing}")
    return [(name, desc, found[name]) for name, desc, _ in WANTED]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join("resources", "samples"))
    ap.add_argument("--size", type=int, default=512)
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    rows, total = [], 0
    for i, (name, desc, seed) in enumerate(choose_seeds(), 1):
        s = render_face(seed, a.size)
        fname = f"face_{i:02d}_{name}.png"
        path = os.path.join(a.out, fname)
        if not cv2.imwrite(path, cv2.cvtColor(s.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
            raise OSError(f"could not write {path}")
        total += os.path.getsize(path)
        rows.append(f"| `{fname}` | {seed} | {desc} | {s.attrs['hair_style']} | {s.attrs['skin_tone']:.2f} |")
        print(f"wrote {path} (seed {seed})")
    readme = [
        "# Sample faces",
        "",
        "These faces are not photographs of anyone: they are rendered by FacePaint's own procedural corpus",
        "(`training/data/synthetic.py`), so they carry no licence or privacy constraints. They were written",
        f"by `python scripts/make_samples.py` at {a.size}x{a.size}; to re-render one:",
        "",
        "```python",
        "from training.data.synthetic import render_face",
        f"sample = render_face(SEED, {a.size})  # sample.image (RGB uint8), sample.label (class ids)",
        "```",
        "",
        "The seeds reproduce these pictures only with the renderer version that wrote them: after a change to",
        "the renderer, run the script again (it picks fresh seeds by the same criteria).",
        "",
        "| file | seed | chosen for | hair style | skin tone (0 light .. 1 dark) |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ]
    with open(os.path.join(a.out, "README.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(readme))
    print(f"total {total / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
