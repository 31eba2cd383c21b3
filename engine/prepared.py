"""What the engine keeps per opened image (`PreparedImage`) and its user-facing error (`EngineError`).

They live apart from :mod:`engine.faceengine` so that :mod:`engine.rendering`, which the engine builds on,
can use them without importing the engine. :mod:`engine.faceengine` and :mod:`engine.session` re-export
both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from engine.face import Alignment
from engine.imageio import LoadedImage

__all__ = ["EngineError", "PreparedImage"]


class EngineError(Exception):
    """A user-facing engine failure. ``str()`` is a readable one-line message."""


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
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def face_found(self) -> bool:
        return bool(self.alignment.found)

    @property
    def status(self) -> str:
        return self.alignment.status
