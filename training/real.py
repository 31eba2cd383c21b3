"""Real labelled faces in the editor's frame: align CelebAMask-HQ-format pairs as the editor aligns a
photo, and measure a parser on them (``facepaint-train evaluate --real DIR``, ``facepaint-train align``).

A pair is ``DIR/images/<stem>.jpg|png`` with ``DIR/labels/<stem>.png`` (index PNG, ids 0..18 in our
order, the same size as the image), as CelebAMask-HQ, our ``folder:`` reader and
``shared/data/celebamask-mini`` have them. Each photo is detected and aligned with the engine's own
detector and crop template (:func:`engine.face.detect_and_align`); its label map is carried into the
crop by the same affine (nearest neighbour, outside the photo = background). Label maps drawn with
left and right mirrored are renamed first (:func:`training.data.sample.fix_sides`).

IoU is accumulated over all faces per class (intersection and union summed), and the mean is taken
over the classes that occur in the labels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from engine.atomicio import atomic_write
from engine.face import detect_and_align
from engine.labels import NAMES, NUM_CLASSES
from training.data.folder import IMAGE_EXTS, hash_split
from training.data.sample import fix_sides, read_image, read_label

__all__ = ["align_folder", "aligned_pair", "iou_report", "real_pairs"]


def real_pairs(folder, *, limit: int | None = None, split: str = "all") -> list[tuple[Path, Path]]:
    """(image, label) paths of a CelebAMask-HQ-format folder, sorted by name; ``split`` train | test
    picks by the hash of the name as the ``folder:`` reader does (one in ten is test)."""
    root = Path(folder)
    img_dir, lab_dir = root / "images", root / "labels"
    if not img_dir.is_dir() or not lab_dir.is_dir():
        raise FileNotFoundError(f"{root} needs images/ and labels/ (index PNGs with the images' names)")
    pairs = [
        (p, lab_dir / f"{p.stem}.png")
        for p in sorted(img_dir.iterdir())
        if p.suffix.lower() in IMAGE_EXTS and (lab_dir / f"{p.stem}.png").is_file()
        and (split == "all" or hash_split(p.stem) == split)
    ]
    if not pairs:
        raise FileNotFoundError(f"no image/label pairs in {root}")
    return pairs[:limit] if limit else pairs


def aligned_pair(image: np.ndarray, label: np.ndarray, size: int, detector: str = "auto"):
    """(crop uint8 [size,size,3], label crop uint8 [size,size], whether a face was found)."""
    if label.shape != image.shape[:2]:
        label = cv2.resize(label, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
    al = detect_and_align(image, size=size, detector=detector)
    lab = cv2.warpAffine(
        np.ascontiguousarray(label), al.matrix, (size, size), flags=cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )
    return al.crop, lab, bool(al.found)


def _load(pair) -> tuple[np.ndarray, np.ndarray]:
    img_path, lab_path = pair
    label, _ = fix_sides(read_label(lab_path))
    return read_image(img_path), label


def align_folder(src, out, size: int = 256, *, detector: str = "auto", limit: int | None = None) -> dict:
    """Write every pair of ``src`` aligned to ``out/images/<stem>.png`` + ``out/labels/<stem>.png``."""
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    found = missed = 0
    for pair in real_pairs(src, limit=limit):
        crop, lab, ok = aligned_pair(*_load(pair), size, detector)
        found, missed = found + ok, missed + (not ok)
        stem = pair[0].stem
        for name, arr in (("images", crop[..., ::-1]), ("labels", lab)):
            okk, buf = cv2.imencode(".png", np.ascontiguousarray(arr))
            atomic_write(out / name / f"{stem}.png", buf.tobytes(), "aligned pair", OSError)
    return {"pairs": found + missed, "face_found": found, "no_face": missed, "size": size}


def iou_report(parse: Callable[[np.ndarray], np.ndarray], samples: Iterable[tuple[np.ndarray, np.ndarray]]):
    """Per-class IoU of ``parse(crop) -> label map`` over (crop, label) samples."""
    inter = np.zeros(NUM_CLASSES, np.int64)
    union = np.zeros(NUM_CLASSES, np.int64)
    in_label = np.zeros(NUM_CLASSES, np.int64)
    n = 0
    for crop, lab in samples:
        pred = np.asarray(parse(crop))
        if pred.shape != lab.shape:
            pred = cv2.resize(pred, lab.shape[::-1], interpolation=cv2.INTER_NEAREST)
        idx = lab.astype(np.int64) * NUM_CLASSES + pred.astype(np.int64)
        conf = np.bincount(idx.ravel(), minlength=NUM_CLASSES**2).reshape(NUM_CLASSES, NUM_CLASSES)
        tp = np.diag(conf)
        inter += tp
        union += conf.sum(0) + conf.sum(1) - tp
        in_label += conf.sum(1)
        n += 1
    present = in_label > 0
    iou = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
    per_class = {NAMES[c]: (round(float(iou[c]), 4) if present[c] else None) for c in range(NUM_CLASSES)}
    miou = float(np.nanmean(np.where(present, iou, np.nan))) if present.any() else None
    return {"faces": n, "miou": miou, "per_class_iou": per_class,
            "zero_classes": [NAMES[c] for c in range(NUM_CLASSES) if present[c] and iou[c] == 0]}


def aligned_samples(folder, size: int, *, detector="auto", limit=None, split="all", stats=None):
    """(crop, label crop) of each pair of ``folder``, aligned on the fly; ``stats`` counts faces found."""
    for pair in real_pairs(folder, limit=limit, split=split):
        crop, lab, ok = aligned_pair(*_load(pair), size, detector)
        if stats is not None:
            stats["face_found" if ok else "no_face"] = stats.get("face_found" if ok else "no_face", 0) + 1
        yield crop, lab


def real_report(bundle, folder, *, split: str = "all", limit: int = 0, grid_faces: int = 6):
    """(report, grid rows) of the bundle's parser, as the engine builds it, on the real pairs of
    ``folder`` aligned at the parser's size. The grid shows photo, label and parse of the first faces."""
    import torch

    from engine.labels import colorize
    from engine.parsing import make_parser

    size = int(bundle.meta.get("parser_resolution", bundle.resolution))
    parser = make_parser("bundle", bundle=bundle, device=bundle.device)
    stats: dict = {}
    shown: list = []

    def parse(crop):
        pred = parser.parse(crop)
        if len(shown) < grid_faces:
            shown.append(pred)
        return pred

    kept = []

    def samples():
        for crop, lab in aligned_samples(folder, size, limit=limit or None, split=split, stats=stats):
            if len(kept) < grid_faces:
                kept.append((crop, lab))
            yield crop, lab

    report = iou_report(parse, samples())
    report.update(stats, size=size, split=split, folder=str(folder))

    def t(imgs):
        return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 127.5 - 1

    rows = [t([c for c, _ in kept]), t([colorize(lab) for _, lab in kept]), t([colorize(p) for p in shown])]
    return report, rows


@dataclass
class AlignConfig:
    """Align a CelebAMask-HQ-format folder (images/ + labels/) into the editor's crop frame."""

    src: str = field(default="", metadata={"help": "folder with images/ and labels/ (required)"})
    out: str = field(default="", metadata={"help": "output folder (images/ and labels/ PNGs) (required)"})
    size: int = field(default=256, metadata={"help": "crop size in pixels"})
    detector: str = field(default="auto", metadata={"help": "face detector (as the editor's --detector)"})
    limit: int = field(default=0, metadata={"help": "only the first N pairs (0 = all)"})


def align_main(argv: list[str]) -> int:
    import json
    import sys

    from training.config import ConfigError, parse_command

    prog = "facepaint-train align"

    def check(cfg):
        if not cfg.src or not cfg.out:
            raise ConfigError("--src and --out are required")

    cfg, code = parse_command(AlignConfig, argv, prog, check)
    if cfg is None:
        return code
    try:
        report = align_folder(cfg.src, cfg.out, cfg.size, detector=cfg.detector, limit=cfg.limit or None)
    except (FileNotFoundError, OSError, ValueError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report))
    return 0
