"""CelebAMask-HQ reader (both distributed forms), returning ``Sample`` in our label order.

**Raw form** (as downloaded): ``ROOT/CelebA-HQ-img/<id>.jpg`` (1024x1024) and one binary mask per part
``ROOT/CelebAMask-HQ-mask-anno/<id // 2000>/<id:05d>_<part>.png`` (512x512; any non-zero pixel is the
part). A face with no file for a part simply lacks that class. The parts are merged into one label map
in a fixed priority, later parts overwriting earlier ones.

``PRIORITY`` (our default) is the dataset's own merge order (the order of its ``g_mask.py``: skin,
nose, eye_g, l_eye, r_eye, l_brow, r_brow, l_ear, r_ear, mouth, u_lip, l_lip, hair, hat, ear_r, neck_l,
neck, cloth) with one change: the two accessories, ``ear_r`` and ``neck_l``, go last. Earrings and
necklaces are small and lie on top of the ears, neck and clothes; in the dataset's order the ``neck``
and ``cloth`` masks, which are drawn around them, would overwrite most necklace pixels. Pass
``priority=OFFICIAL_PRIORITY`` to reproduce the label maps other projects built with ``g_mask.py``.
Eyes and brows are merged after ``eye_g``, so eyes seen through glasses stay eyes.

**Combined form**: a folder of merged label maps ``<id>.png`` (ids already in CelebAMask-HQ order,
which is ours) next to the images. Looked for, in order: ``labels_dir`` if given, then
``CelebAMask-HQ-mask``, ``CelebAMaskHQ-mask``, ``CelebAMask-HQ-label``, ``labels``, ``label``, ``masks``,
``mask`` under ROOT. The SEAN layout (``{train,test}_img`` + ``{train,test}_label``) works too.

**Splits**: as in the literature (SEAN, MaskGAN), ids 0..27,999 are ``train`` and 28,000..29,999
``test``; ``all`` is everything. Images are resized to ``size`` (area), labels nearest-neighbour.
Left/right: the dataset's ``l_*`` classes are the subject's left, as ours (``engine.labels.LR_PAIRS``);
the few maps drawn mirrored are renamed (``fix_mirrored``, see ``sample.fix_sides``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.labels import INDEX, NAMES
from training.data.sample import (
    BadFile,
    DatasetError,
    FileDataset,
    Sample,
    fix_sides,
    read_image,
    read_label,
    resize_pair,
)

#: The dataset names its part files after our classes, in our order (background has no file).
PART_NAMES: tuple[str, ...] = NAMES[1:]
OFFICIAL_PRIORITY: tuple[str, ...] = PART_NAMES
PRIORITY: tuple[str, ...] = tuple(p for p in PART_NAMES if p not in ("ear_r", "neck_l")) + ("ear_r", "neck_l")
TRAIN_IDS = 28_000
IMAGE_DIR = "CelebA-HQ-img"
ANNO_DIR = "CelebAMask-HQ-mask-anno"
COMBINED_DIRS = (
    "CelebAMask-HQ-mask",
    "CelebAMaskHQ-mask",
    "CelebAMask-HQ-label",
    "labels",
    "label",
    "masks",
    "mask",
)
_IMAGE_EXTS = (".jpg", ".jpeg", ".png")


def merge_parts(parts: dict[str, np.ndarray], priority=PRIORITY) -> np.ndarray:
    """Merge binary part masks (name -> HxW array, non-zero = part) into one label map."""
    shape = None
    for name, m in parts.items():
        if name not in INDEX:
            raise ValueError(f"unknown part {name!r}")
        if shape is None:
            shape = m.shape[:2]
        elif m.shape[:2] != shape:
            raise ValueError(f"part {name} is {m.shape[:2]}, other parts are {shape}")
    if shape is None:
        raise ValueError("no part masks to merge")
    out = np.zeros(shape, np.uint8)
    for name in priority:
        m = parts.get(name)
        if m is not None:
            out[(m[..., 0] if m.ndim == 3 else m) != 0] = INDEX[name]
    return out


def _split_ok(i: int, split: str) -> bool:
    if split == "train":
        return i < TRAIN_IDS
    if split in ("test", "val"):
        return i >= TRAIN_IDS
    return True


def _int_stems(folder: Path, exts) -> dict[int, Path]:
    out = {}
    if folder.is_dir():
        for e in os.scandir(folder):
            stem, ext = os.path.splitext(e.name)
            if ext.lower() in exts and stem.isdigit():
                out[int(stem)] = Path(e.path)
    return out


class CelebAMaskHQ(FileDataset):
    """``CelebAMaskHQ(root, split="train", size=256)``; the form (raw or combined) is detected."""

    def __init__(
        self,
        root,
        split: str = "train",
        size: int = 256,
        *,
        labels_dir=None,
        priority=PRIORITY,
        fit: str = "crop",
        fix_mirrored: bool = True,
    ):
        if split not in ("train", "test", "val", "all"):
            raise ValueError(f"split must be train, test, val or all, got {split!r}")
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"CelebAMask-HQ folder not found: {root}")
        self.root, self.priority, self.fit = root, tuple(priority), fit
        self.fix_mirrored = fix_mirrored
        bad = [p for p in self.priority if p not in PART_NAMES]
        if bad:
            raise ValueError(f"unknown part(s) in priority: {bad}")
        items: list = []
        sean = root / f"{'test' if split in ('test', 'val') else 'train'}_img"
        if labels_dir is None and (root / ANNO_DIR).is_dir():
            self.form = "raw"
            images = _int_stems(root / IMAGE_DIR, _IMAGE_EXTS)
            ids = set(images)
            for sub in (root / ANNO_DIR).iterdir() if not ids else ():
                for f in sub.glob("*_skin.png"):
                    ids.add(int(f.name.split("_")[0]))
            items = [
                (i, images.get(i, root / IMAGE_DIR / f"{i}.jpg")) for i in sorted(ids) if _split_ok(i, split)
            ]
        elif labels_dir is None and sean.is_dir() and split != "all":
            self.form = "combined"
            lab_dir = root / f"{sean.name[:-4]}_label"
            images = _int_stems(sean, _IMAGE_EXTS)
            items = [(i, p, lab_dir / f"{i}.png") for i, p in sorted(images.items())]
        else:
            self.form = "combined"
            lab_dir = Path(labels_dir) if labels_dir is not None else None
            if lab_dir is None:
                lab_dir = next((root / d for d in COMBINED_DIRS if (root / d).is_dir()), None)
            if lab_dir is None or not lab_dir.is_dir():
                raise DatasetError(
                    f"{root} holds neither {ANNO_DIR}/ (raw form) nor a folder of label maps "
                    f"({', '.join(COMBINED_DIRS)}); pass labels_dir="
                )
            img_dir = root / IMAGE_DIR if (root / IMAGE_DIR).is_dir() else root
            images = _int_stems(img_dir, _IMAGE_EXTS)
            labels = _int_stems(lab_dir, (".png",))
            items = [
                (i, images.get(i, img_dir / f"{i}.jpg"), labels[i])
                for i in sorted(labels)
                if _split_ok(i, split)
            ]
        if not items:
            raise DatasetError(f"no CelebAMask-HQ samples for split {split!r} under {root}")
        super().__init__(items, size, f"celebamask-hq:{root} ({split})")

    def part_path(self, i: int, part: str) -> Path:
        return self.root / ANNO_DIR / str(i // 2000) / f"{i:05d}_{part}.png"

    def load(self, item) -> Sample:
        i, img_path = item[0], item[1]
        if self.form == "raw":
            parts = {}
            for part in self.priority:
                p = self.part_path(i, part)
                if p.exists():
                    parts[part] = read_label(p, 256, any_channel=True)
            if not parts:
                raise BadFile("no part masks", self.part_path(i, "skin"))
            try:
                label = merge_parts(parts, self.priority)
            except ValueError as e:
                raise BadFile("part masks disagree in size", self.part_path(i, "skin"), str(e)) from None
        else:
            label = read_label(item[2])
        image = read_image(img_path)
        ih, iw = image.shape[:2]
        lh, lw = label.shape
        if ih * lw != iw * lh:  # masks may be smaller (512 vs 1024) but must have the same shape
            raise BadFile(
                "label size does not match image",
                item[2] if self.form == "combined" else img_path,
                f"image {iw}x{ih}, label {lw}x{lh}",
            )
        fixed = False
        if self.fix_mirrored:
            label, fixed = fix_sides(label)
        image, label = resize_pair(image, label, self.size, self.fit)
        attrs = {"id": i, "dataset": "celebamask-hq", "sides_fixed": fixed}
        return Sample(image, label, attrs, f"celebamask-hq:{i}")
