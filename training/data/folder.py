"""Generic folders: images with label PNGs, or plain photos labelled on the fly by a parser.

``LabeledFolder(root)``: ``root/images/<stem>.{jpg,jpeg,png,webp,bmp}`` with ``root/labels/<stem>.png``
(single-channel class ids in our order, 0..18, the same size as the image). Images without a label
file are skipped and counted. A label map whose left and right classes sit on the wrong sides of the
face is renamed to our convention (``fix_mirrored``, on by default; ``sample.fix_sides``).

``PhotoFolder(root, parser=...)``: any images under ``root`` (recursively); each is squared, resized
and passed to ``parser(rgb uint8 HxWx3) -> label map`` (any callable, e.g. a wrapped face parser).
Labels of another size are resized nearest-neighbour; values must be 0..18.

Splits: when ``root/train`` and ``root/test`` (or ``val``) exist, the split picks that subfolder.
Otherwise every file is assigned by a hash of its name, one in ten to ``test`` (``val`` = ``test``),
the rest to ``train``; ``all`` takes everything. The assignment never changes as files are added.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from engine.labels import NUM_CLASSES
from training.data.sample import (
    BadFile,
    DatasetError,
    FileDataset,
    Sample,
    fit_square,
    fix_sides,
    read_image,
    read_label,
    resize_pair,
)

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def hash_split(stem: str) -> str:
    return "test" if zlib.crc32(stem.encode("utf-8")) % 10 == 0 else "train"


def _split_root(root: Path, split: str) -> tuple[Path, bool]:
    """(folder to list, whether a hash split is still needed)."""
    if split == "all":
        return root, False
    for name in (split,) if split == "train" else (split, "test", "val"):
        if (root / name).is_dir() and (root / "train").is_dir():
            return root / name, False
    return root, True


def _check_split(split: str) -> None:
    if split not in ("train", "test", "val", "all"):
        raise ValueError(f"split must be train, test, val or all, got {split!r}")


def _want(stem: str, split: str, hashed: bool) -> bool:
    return not hashed or hash_split(stem) == ("test" if split in ("test", "val") else "train")


class LabeledFolder(FileDataset):
    def __init__(
        self,
        root,
        split: str = "train",
        size: int = 256,
        *,
        image_dir: str = "images",
        label_dir: str = "labels",
        fit: str = "crop",
        fix_mirrored: bool = True,
    ):
        _check_split(split)
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"folder not found: {root}")
        base, hashed = _split_root(root, split)
        img_dir, lab_dir = base / image_dir, base / label_dir
        if not img_dir.is_dir() or not lab_dir.is_dir():
            raise DatasetError(
                f"expected {img_dir} and {lab_dir} (images and label PNGs with matching names)"
            )
        items = []
        for e in sorted(os.scandir(img_dir), key=lambda e: e.name):
            stem, ext = os.path.splitext(e.name)
            if ext.lower() in IMAGE_EXTS and _want(stem, split, hashed):
                items.append((Path(e.path), lab_dir / f"{stem}.png"))
        if not items:
            raise DatasetError(f"no images for split {split!r} in {img_dir}")
        self.fit, self.fix_mirrored = fit, fix_mirrored
        super().__init__(items, size, f"folder:{root} ({split})")

    def load(self, item) -> Sample:
        img_path, lab_path = item
        label = read_label(lab_path)
        image = read_image(img_path)
        if image.shape[:2] != label.shape:
            raise BadFile(
                "label size does not match image",
                lab_path,
                f"image {image.shape[1]}x{image.shape[0]}, label {label.shape[1]}x{label.shape[0]}",
            )
        fixed = False
        if self.fix_mirrored:
            label, fixed = fix_sides(label)
        image, label = resize_pair(image, label, self.size, self.fit)
        return Sample(image, label, {"dataset": "folder", "sides_fixed": fixed}, f"folder:{img_path.stem}")


class PhotoFolder(FileDataset):
    def __init__(
        self,
        root,
        split: str = "train",
        size: int = 256,
        *,
        parser: Callable[[np.ndarray], np.ndarray] | None = None,
        fit: str = "crop",
    ):
        _check_split(split)
        if parser is None or not callable(parser):
            raise ValueError("photos:DIR needs a parser: pass parser=callable(rgb uint8 HxWx3) -> label map")
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"folder not found: {root}")
        base, hashed = _split_root(root, split)
        items = []
        for dirpath, dirnames, files in os.walk(base):
            dirnames.sort()
            for f in sorted(files):
                stem, ext = os.path.splitext(f)
                if ext.lower() in IMAGE_EXTS and _want(stem, split, hashed):
                    items.append(Path(dirpath) / f)
        if not items:
            raise DatasetError(f"no photos for split {split!r} under {base}")
        self.parser, self.fit = parser, fit
        super().__init__(items, size, f"photos:{root} ({split})")

    def load(self, item) -> Sample:
        image = fit_square(read_image(item), self.fit)
        interp = cv2.INTER_AREA if image.shape[0] > self.size else cv2.INTER_LINEAR
        image = np.ascontiguousarray(cv2.resize(image, (self.size, self.size), interpolation=interp))
        try:
            label = np.asarray(self.parser(image))
        except Exception as e:  # a parser failure on one photo must not end the epoch
            raise BadFile("parser failed", item, f"{type(e).__name__}: {e}") from None
        if label.ndim != 2 or label.size == 0:
            raise BadFile("parser returned no label map", item, f"shape {label.shape}")
        if label.min() < 0 or label.max() >= NUM_CLASSES:
            raise BadFile("parser returned ids outside 0..18", item)
        label = label.astype(np.uint8)
        image, label = resize_pair(image, label, self.size, "stretch")
        return Sample(image, label, {"dataset": "photos", "parsed": True}, f"photos:{item.name}")
