"""LaPa reader: ``LaPa/{train,val,test}/{images,labels}``, 11 classes mapped onto our 19.

=====  ===============  ==============
LaPa   meaning          ours
=====  ===============  ==============
0      background       0 background
1      skin             1 skin
2      left eyebrow     7 r_brow
3      right eyebrow    6 l_brow
4      left eye         5 r_eye
5      right eye        4 l_eye
6      nose             2 nose
7      upper lip        11 u_lip
8      inner mouth      10 mouth
9      lower lip        12 l_lip
10     hair             13 hair
=====  ===============  ==============

**What cannot be mapped.** LaPa has no ears, neck, clothes, glasses, hat, earrings or necklace: those
pixels are labelled background (or skin/hair where the annotators merged them). Consequences: a model
trained on LaPa alone learns to call ears, necks and clothes background and can never predict classes
3, 8, 9, 14, 15, 16, 17 or 18; mixed with CelebAMask-HQ or the synthetic corpus, LaPa's background
contradicts the other sets on exactly those pixels. ``background_value=255`` marks LaPa's background
as "unknown" so a loss with ``ignore_index=255`` skips it (the labels then leave our 0..18 range, so
only use it with such a loss).

**Left/right.** LaPa's labels come from its 106-point landmarks, which are numbered from the image's
left, so LaPa's "left eye" is the eye on the image's left: the subject's RIGHT eye. Our labels follow
CelebAMask-HQ (``engine.labels.LR_PAIRS``: ``l_*`` is the subject's left, on the image's right), so
by default LaPa's left classes become our ``r_*`` and its right ones our ``l_*``. ``swap_lr=True``
maps them name for name instead, for a copy of LaPa whose labels were already mirrored.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.labels import INDEX
from training.data.sample import (
    BadFile,
    DatasetError,
    FileDataset,
    Sample,
    read_image,
    read_label,
    resize_pair,
)

LAPA_NAMES = (
    "background",
    "skin",
    "left_eyebrow",
    "right_eyebrow",
    "left_eye",
    "right_eye",
    "nose",
    "upper_lip",
    "inner_mouth",
    "lower_lip",
    "hair",
)
#: LaPa id -> our id (index = LaPa id).
LAPA_TO_OURS = np.array(
    [
        INDEX[n]
        for n in (
            "background",
            "skin",
            "r_brow",  # LaPa's "left" is the image's left: the subject's right
            "l_brow",
            "r_eye",
            "l_eye",
            "nose",
            "u_lip",
            "mouth",
            "l_lip",
            "hair",
        )
    ],
    np.uint8,
)
#: Our classes LaPa never produces.
UNMAPPED = tuple(n for n in ("eye_g", "l_ear", "r_ear", "hat", "ear_r", "neck_l", "neck", "cloth"))
_EXTS = (".jpg", ".jpeg", ".png")


def lapa_lut(swap_lr: bool = False, background_value: int = 0) -> np.ndarray:
    """256-entry LUT from LaPa ids to ours (entries past 10 are unused)."""
    m = LAPA_TO_OURS.copy()
    if swap_lr:
        m[[2, 3]], m[[4, 5]] = m[[3, 2]], m[[5, 4]]
    m[0] = background_value
    lut = np.zeros(256, np.uint8)
    lut[: len(m)] = m
    return lut


def find_root(path) -> Path:
    """Accept the LaPa folder itself or a folder that contains ``LaPa/``."""
    p = Path(path)
    if (p / "LaPa").is_dir() and not (p / "train").is_dir():
        p = p / "LaPa"
    return p


class LaPa(FileDataset):
    def __init__(
        self,
        root,
        split: str = "train",
        size: int = 256,
        *,
        swap_lr: bool = False,
        background_value: int = 0,
        fit: str = "crop",
    ):
        if split not in ("train", "val", "test", "all"):
            raise ValueError(f"split must be train, val, test or all, got {split!r}")
        root = find_root(root)
        splits = ("train", "val", "test") if split == "all" else (split,)
        items = []
        for sp in splits:
            img_dir, lab_dir = root / sp / "images", root / sp / "labels"
            if not img_dir.is_dir():
                if split == "all":
                    continue
                raise DatasetError(
                    f"LaPa split folder not found: {img_dir} (expected LaPa/{sp}/images and labels)"
                )
            for e in sorted(os.scandir(img_dir), key=lambda e: e.name):
                stem, ext = os.path.splitext(e.name)
                if ext.lower() in _EXTS:
                    items.append((Path(e.path), lab_dir / f"{stem}.png"))
        if not items:
            raise DatasetError(f"no LaPa images for split {split!r} under {root}")
        self.lut = lapa_lut(swap_lr, background_value)
        self.fit = fit
        super().__init__(items, size, f"lapa:{root} ({split})")

    def load(self, item) -> Sample:
        img_path, lab_path = item
        label = read_label(lab_path, num_values=len(LAPA_TO_OURS))
        image = read_image(img_path)
        if image.shape[:2] != label.shape:
            raise BadFile(
                "label size does not match image",
                lab_path,
                f"image {image.shape[1]}x{image.shape[0]}, label {label.shape[1]}x{label.shape[0]}",
            )
        image, label = resize_pair(image, self.lut[label], self.size, self.fit)
        return Sample(image, label, {"dataset": "lapa"}, f"lapa:{img_path.stem}")
