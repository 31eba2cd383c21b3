"""The sample type every corpus reader returns, plus the skip bookkeeping shared by file readers."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from PIL import Image

from engine.labels import MIRROR, NUM_CLASSES, mirrored_convention, swap_left_right

#: Label LUT of a horizontal flip: left and right classes swap (engine.labels.MIRROR).
FLIP_LUT = np.arange(256, dtype=np.uint8)
FLIP_LUT[: len(MIRROR)] = MIRROR


def fix_sides(label: np.ndarray) -> tuple[np.ndarray, bool]:
    """A real label map with its left and right classes on the wrong sides of the face (about 6 % of
    CelebAMask-HQ's maps are drawn mirrored) renamed to follow ``engine.labels.LR_PAIRS``; returns
    (label, whether it was renamed). Maps the test cannot judge are kept as they are."""
    if mirrored_convention(label):
        return swap_left_right(label).astype(np.uint8), True
    return label, False


@dataclass
class Sample:
    """One face: ``image`` uint8 (H, W, 3) RGB, ``label`` uint8 (H, W) class ids (engine.labels order)."""

    image: np.ndarray
    label: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        if self.image.dtype != np.uint8 or self.image.ndim != 3 or self.image.shape[2] != 3:
            raise ValueError(
                f"Sample.image must be uint8 (H, W, 3), got {self.image.dtype} {self.image.shape}"
            )
        if self.label.dtype != np.uint8 or self.label.shape != self.image.shape[:2]:
            raise ValueError(
                f"Sample.label must be uint8 {self.image.shape[:2]}, got {self.label.dtype} {self.label.shape}"
            )

    @property
    def size(self) -> int:
        return self.image.shape[0]

    def flipped(self) -> Sample:
        """Mirror left-right; left/right classes swap so the labels stay true."""
        return Sample(
            np.ascontiguousarray(self.image[:, ::-1]),
            FLIP_LUT[self.label[:, ::-1]],
            dict(self.attrs, flipped=not self.attrs.get("flipped", False)),
            self.source,
        )

    def to_tensors(self):
        """(image float [3, H, W] in [-1, 1], label long [H, W]) as torch tensors."""
        import torch

        img = torch.from_numpy(np.ascontiguousarray(self.image)).permute(2, 0, 1).float() / 127.5 - 1.0
        return img, torch.from_numpy(self.label.astype(np.int64))


class BadFile(Exception):
    """A file that cannot be used; ``reason`` is a short category for the skip report."""

    def __init__(self, reason: str, path, detail: str = ""):
        super().__init__(f"{reason}: {path}" + (f" ({detail})" if detail else ""))
        self.reason, self.path, self.detail = reason, str(path), detail


class DatasetError(RuntimeError):
    """A dataset that cannot be used at all (missing folder, nothing readable)."""


@dataclass
class SkipReport:
    """Counts of skipped files per reason, with a few example paths each."""

    name: str = "dataset"
    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    max_examples: int = 5

    def add(self, reason: str, path, detail: str = "") -> None:
        self.counts[reason] += 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < self.max_examples:
            ex.append(str(path) + (f" ({detail})" if detail else ""))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        if not self.counts:
            return f"{self.name}: no files skipped"
        lines = [f"{self.name}: skipped {self.total} file(s)"]
        for reason, n in self.counts.most_common():
            lines.append(f"  {reason}: {n}, e.g. " + "; ".join(self.examples.get(reason, [])))
        return "\n".join(lines)

    __str__ = summary


# ------------------------------------------------------------------------------------------ file IO
def read_image(path) -> np.ndarray:
    """RGB uint8 (EXIF orientation applied by OpenCV); ``BadFile`` when missing or undecodable."""
    try:
        data = np.fromfile(str(path), np.uint8)
    except FileNotFoundError:
        raise BadFile("missing image", path) from None
    except OSError as e:
        raise BadFile("unreadable image", path, str(e)) from None
    if data.size == 0:
        raise BadFile("empty file", path)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None:
        raise BadFile("undecodable image", path)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_label(path, num_values: int = NUM_CLASSES, any_channel: bool = False) -> np.ndarray:
    """Single-channel id map as uint8. Palette PNGs keep their indices; equal-channel RGB is accepted.

    ``any_channel=True`` (binary part masks) takes the maximum over the colour channels instead."""
    if not os.path.exists(path):
        raise BadFile("missing label", path)
    if os.path.getsize(path) == 0:
        raise BadFile("empty file", path)
    try:
        with Image.open(path) as im:
            im.load()
            arr = np.asarray(im)
    except Exception as e:  # PIL raises many types for broken files
        raise BadFile("undecodable label", path, type(e).__name__) from None
    if arr.ndim == 3 and any_channel:
        arr = arr[..., : min(3, arr.shape[2])].max(2)
    if arr.ndim == 3:
        if (
            arr.shape[2] >= 3
            and np.array_equal(arr[..., 0], arr[..., 1])
            and np.array_equal(arr[..., 0], arr[..., 2])
        ):
            arr = arr[..., 0]
        else:
            raise BadFile("colour label (expected class ids)", path)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if arr.size and (arr.min() < 0 or arr.max() >= num_values):
        raise BadFile("label value out of range", path, f"max {int(arr.max())} >= {num_values}")
    return arr.astype(np.uint8)


def fit_square(img: np.ndarray, mode: str = "crop") -> np.ndarray:
    """Make an image square: centre ``crop``, ``pad`` with zeros, or leave it (``stretch``)."""
    h, w = img.shape[:2]
    if h == w or mode == "stretch":
        return img
    if mode == "crop":
        s = min(h, w)
        y0, x0 = (h - s) // 2, (w - s) // 2
        return img[y0 : y0 + s, x0 : x0 + s]
    if mode == "pad":
        s = max(h, w)
        out = np.zeros((s, s) + img.shape[2:], img.dtype)
        y0, x0 = (s - h) // 2, (s - w) // 2
        out[y0 : y0 + h, x0 : x0 + w] = img
        return out
    raise ValueError(f"fit must be crop, pad or stretch, got {mode!r}")


def resize_pair(image: np.ndarray, label: np.ndarray, size: int, fit: str = "crop") -> tuple:
    """Square both (same geometry) and resize: area/linear for the image, nearest for the label."""
    image, label = fit_square(image, fit), fit_square(label, fit)
    if image.shape[:2] != (size, size):
        interp = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_LINEAR
        image = cv2.resize(image, (size, size), interpolation=interp)
    if label.shape != (size, size):
        label = cv2.resize(label, (size, size), interpolation=cv2.INTER_NEAREST)
    return np.ascontiguousarray(image), np.ascontiguousarray(label)


class FileDataset:
    """Map-style dataset over a list of items; bad files are skipped, counted, never fatal mid-epoch.

    ``__getitem__(i)`` returns item ``i`` or, when it is bad, the next good one (wrapping around); the
    skip is recorded in ``self.report`` once per file. Subclasses implement ``load(item) -> Sample``
    and raise ``BadFile`` for unusable files. With DataLoader workers each worker keeps its own report:
    call ``scan()`` in the main process for a complete count.
    """

    def __init__(self, items: list, size: int, name: str):
        if size < 8:
            raise ValueError(f"size must be >= 8, got {size}")
        self.items, self.size = list(items), int(size)
        self.report = SkipReport(name)
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.items)

    def load(self, item) -> Sample:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, idx: int) -> Sample:
        n = len(self.items)
        if idx < 0:
            idx += n
        if not 0 <= idx < n:
            raise IndexError(f"index {idx} out of range for {self.report.name} ({n} items)")
        for k in range(n):
            j = (idx + k) % n
            if j in self._bad:
                continue
            try:
                return self.load(self.items[j])
            except BadFile as e:
                self._bad.add(j)
                self.report.add(e.reason, e.path, e.detail)
        raise DatasetError(f"{self.report.name}: none of its {n} items is readable\n{self.report.summary()}")

    def scan(self) -> SkipReport:
        """Load every item once (slow); afterwards ``report`` counts every bad file."""
        for j, item in enumerate(self.items):
            if j in self._bad:
                continue
            try:
                self.load(item)
            except BadFile as e:
                self._bad.add(j)
                self.report.add(e.reason, e.path, e.detail)
        return self.report
