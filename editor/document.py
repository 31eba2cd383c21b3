"""The Qt-free edit document: one prepared photo and its current EditState.

Every change is an ``engine.history`` operation, applied (or taken back) by the undo commands in
``editor.commands``, so it replays exactly in both directions. Listeners are told what kind of thing
changed ("mask", "style", "settings", "free").
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.session import EditState, PreparedImage

Listener = Callable[[str], None]


class Document:
    """A photo being edited. ``generation`` is unique per opened document (tags render requests)."""

    _next_generation = 1

    def __init__(self, prepared: PreparedImage, state: EditState, source: str | Path | None = None):
        if state.mask.shape != prepared.work_mask.shape:
            raise ValueError(
                f"state mask {state.mask.shape} differs from the photo's {prepared.work_mask.shape}"
            )
        self.prepared = prepared
        self.state = state
        self.source = Path(source) if source else None
        self.session_path: Path | None = None
        self.photo_sha256: str | None = None  # of the decoded photo, for the autosave's path check
        self.generation = Document._next_generation
        Document._next_generation += 1
        self._listeners: list[Listener] = []

    # --- queries --------------------------------------------------------------------------------
    @property
    def resolution(self) -> int:
        """The side of the mask the user paints (the working grid, ``engine.workmask``)."""
        return int(self.state.mask.shape[0])

    @property
    def parsed_mask(self) -> np.ndarray:
        """The parse on the painted grid (what "restore" brings back)."""
        return self.prepared.work_mask

    @property
    def photo_px(self) -> float:
        """Photo pixels per painted-mask pixel (side)."""
        m = self.mask_matrix
        return float(1.0 / np.sqrt(abs(m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0])))

    @property
    def mask_matrix(self) -> np.ndarray:
        """photo -> painted mask affine (pixel centres)."""
        return self.prepared.work_matrix

    @property
    def crop(self) -> np.ndarray:
        return self.prepared.crop

    @property
    def title(self) -> str:
        if self.session_path is not None:
            return self.session_path.name
        if self.source is not None:
            return self.source.name
        return "Untitled"

    def contains(self, x: float, y: float) -> bool:
        r = self.resolution
        return 0 <= x < r and 0 <= y < r

    def region_at(self, x: float, y: float) -> int | None:
        """The class id under image point (x, y), or None outside the crop."""
        xi, yi = int(np.floor(x)), int(np.floor(y))
        if not self.contains(xi, yi):
            return None
        return int(self.state.mask[yi, xi])

    # --- listeners ------------------------------------------------------------------------------
    def subscribe(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def _notify(self, kind: str) -> None:
        for fn in list(self._listeners):
            fn(kind)

    # --- the one way the state changes (the undo commands) ----------------------------------------
    def apply_op(self, op, forward: bool = True) -> None:
        """Apply an ``engine.history`` operation (or take it back)."""
        self.state = op.transform(self.state, forward)
        self._notify(op.kind)
