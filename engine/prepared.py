"""What the engine keeps per opened image (`PreparedImage`, with its typed render cache), the
references it has prepared (`ReferenceStore`), and its user-facing error (`EngineError`)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

import cv2
import numpy as np
import torch

from engine import workmask
from engine.errors import EngineError
from engine.face import Alignment
from engine.imageio import LoadedImage
from engine.maskops import warp_labels
from engine.state import StateError

__all__ = ["LRU", "EngineError", "ImageCache", "PreparedImage", "ReferenceStore", "mask_key"]


def mask_key(mask: np.ndarray) -> str:
    """A cache key for a label map: the digest of its bytes."""
    return hashlib.sha1(np.ascontiguousarray(mask).tobytes()).hexdigest()

if TYPE_CHECKING:
    from engine.detail import DetailResult
    from engine.photoview import ViewCompositor
    from engine.state import EditState

V = TypeVar("V")

UNEDITED_RENDERS = 4  # unedited renders kept per image (one per mask / harmoniser variant)
COLOR_STYLES = 64  # encoded colour-edit styles kept per image


class LRU(Generic[V]):
    """A bounded map that drops its least recently used entry when full."""

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self._items: OrderedDict[Hashable, V] = OrderedDict()

    def get(self, key: Hashable, make: Callable[[], V]) -> V:
        """The value for ``key``, made (and kept) on a miss."""
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = make()
        self._items[key] = value
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return value

    def peek(self, key: Hashable) -> V | None:
        """The value for ``key`` (None when absent), without making it recently used."""
        return self._items.get(key)

    def put(self, key: Hashable, value: V) -> None:
        """Keep ``value`` for ``key`` (replacing any), as the most recently used."""
        self._items.pop(key, None)
        self.get(key, lambda: value)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()


@dataclass
class ImageCache:
    """Per-image results the renderer reuses. Each kind is bounded on its own, so many colour edits
    never push out the unedited render."""

    photo_lab: np.ndarray | None = None  # Lab of the crop
    unedited: LRU[np.ndarray] = field(default_factory=lambda: LRU(UNEDITED_RENDERS))  # Lab renders
    color_styles: LRU[torch.Tensor] = field(default_factory=lambda: LRU(COLOR_STYLES))
    detail: tuple[EditState, DetailResult] | None = None  # the last detail composite and its state
    view: ViewCompositor | None = None  # the editor's photo-space view (engine.photospace)
    model: tuple[EditState, EditState] | None = None  # the last working-grid state and its R×R version
    in_photo: np.ndarray | None = None  # PreparedImage.in_photo
    before: tuple[EditState, np.ndarray] | None = None  # the last reshape's styles rendered on the parse


@dataclass
class PreparedImage:
    id: str
    photo: LoadedImage
    alignment: Alignment
    crop: np.ndarray
    parsed_mask: np.ndarray
    styles: torch.Tensor  # [19, S] own styles, pooled under the parsed mask
    present: np.ndarray  # bool [19]: classes present in the parsed mask
    aligned: bool = True
    source: str = ""
    sha256: str = ""  # of the full photo's pixels; set for references, whose full photo is dropped
    cache: ImageCache = field(default_factory=ImageCache, repr=False)
    #: The parse on the working grid (:mod:`engine.workmask`), W = k·R; None: the parse itself (k = 1).
    parsed_work: np.ndarray | None = None

    @property
    def work_mask(self) -> np.ndarray:
        """The parse on the working grid: what an unedited state's mask is."""
        return self.parsed_mask if self.parsed_work is None else self.parsed_work

    @property
    def work_scale(self) -> int:
        """k: working-mask pixels per crop pixel (side)."""
        return self.work_mask.shape[0] // self.parsed_mask.shape[0]

    @property
    def work_matrix(self) -> np.ndarray:
        """photo -> working mask affine (pixel centres)."""
        return workmask.work_matrix(self.alignment.matrix, self.work_scale)

    @property
    def in_photo(self) -> np.ndarray:
        """bool R×R: crop pixels that show the photo. The crop of a face near the photo's edge runs past
        it, and there it shows the photo's border pixels repeated: streaks that are not background, skin
        or hair, so no texture or colour is taken from them."""
        if self.cache.in_photo is None:
            r = self.parsed_mask.shape[0]
            w, h = self.photo.size
            yy, xx = np.mgrid[:r, :r]
            p = self.alignment.to_photo(np.stack([xx.ravel(), yy.ravel()], 1))
            ok = (p[:, 0] >= -0.5) & (p[:, 0] <= w - 0.5) & (p[:, 1] >= -0.5) & (p[:, 1] <= h - 0.5)
            self.cache.in_photo = ok.reshape(r, r)
        return self.cache.in_photo

    def model_mask(self, mask: np.ndarray) -> np.ndarray:
        """The networks' R×R mask of a working mask (:func:`engine.workmask.to_model`)."""
        return workmask.to_model(np.asarray(mask, np.uint8), self.work_mask, self.parsed_mask)

    def mask_in_photo(self, mask: np.ndarray) -> np.ndarray:
        """A crop-frame label map carried into the photo's frame (its width and height, EXIF-oriented),
        class by class; pixels outside the crop are background."""
        h, w = self.photo.rgb.shape[:2]
        m = np.asarray(mask)
        k = m.shape[0] / self.parsed_mask.shape[0]
        return warp_labels(m, cv2.invertAffineTransform(workmask.work_matrix(self.alignment.matrix, k)), (w, h))

    def mask_in_crop(self, mask: np.ndarray) -> tuple[np.ndarray, str]:
        """A working mask (the working grid's side, see :mod:`engine.workmask`) from a label map in the
        aligned crop's frame (at the networks' side or the working side) or in the photo's; returns it and
        which frame it was in."""
        m = np.asarray(mask)
        crop, work, photo = self.parsed_mask.shape, self.work_mask.shape, self.photo.rgb.shape[:2]
        if m.shape == work:
            return m, f"aligned crop ({work[1]}×{work[0]})"
        if m.shape == crop:
            return workmask.to_work(m, work[0]), f"aligned crop ({crop[1]}×{crop[0]}, enlarged to {work[1]})"
        if m.shape == photo:
            return warp_labels(m, self.work_matrix, work[::-1]), f"photo ({photo[1]}×{photo[0]})"
        sizes = f"the aligned crop's ({crop[1]}×{crop[0]})"
        if work != crop:
            sizes += f" or its working grid's ({work[1]}×{work[0]})"
        raise StateError(
            f"the mask is {m.shape[1]}×{m.shape[0]}; it must have the photo's size ({photo[1]}×{photo[0]}), "
            f"{sizes}"
        )

    @property
    def face_found(self) -> bool:
        return bool(self.alignment.found)

    @property
    def status(self) -> str:
        return self.alignment.status


class ReferenceStore:
    """The references an engine has prepared, by id, the least recently used dropped past ``capacity``."""

    def __init__(self, capacity: int = 48):
        self._refs: LRU[PreparedImage] = LRU(capacity)

    def add(self, prep: PreparedImage) -> str:
        self._refs.put(prep.id, prep)
        return prep.id

    def get(self, ref_id: str) -> PreparedImage:
        prep = self._refs.peek(ref_id)  # using a reference does not keep it: adding it again does
        if prep is None:
            raise EngineError(f"reference {ref_id} is not loaded; add it to the gallery first")
        return prep

    def __contains__(self, ref_id: str) -> bool:
        return ref_id in self._refs
