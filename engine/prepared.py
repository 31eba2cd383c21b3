"""What the engine keeps per opened image (`PreparedImage`, with its typed render cache), the
references it has prepared (`ReferenceStore`), and its user-facing error (`EngineError`)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
import torch

from engine.errors import EngineError
from engine.face import Alignment
from engine.imageio import LoadedImage

__all__ = ["LRU", "EngineError", "ImageCache", "PreparedImage", "ReferenceStore"]

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
    detail: tuple[Any, Any] | None = None  # (EditState, engine.detail.DetailResult) of the last render


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
        if ref_id not in self._refs:
            raise EngineError(f"reference {ref_id} is not loaded; add it to the gallery first")
        return self._refs.get(ref_id, lambda: None)

    def __contains__(self, ref_id: str) -> bool:
        return ref_id in self._refs
