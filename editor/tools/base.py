"""Tool protocol: the canvas maps mouse events to image coordinates and calls press/move/release.

Image coordinates are continuous: pixel (i, j) covers [i, i+1) x [j, j+1). Mask operations take pixel
centres, so tools subtract 0.5 before calling engine.maskops.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter


class Tool:
    """Base class. ``ctl`` is the EditorController; tools change the document only through it."""

    name = "tool"
    title = "Tool"
    short = "Tool"  # tool bar label
    shortcut = ""
    tip = ""
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, ctl):
        self.ctl = ctl
        self.active = False

    # --- events (image coordinates) -------------------------------------------------------------
    def press(self, x: float, y: float, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
        pass

    def move(self, x: float, y: float, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
        pass

    def release(self, x: float, y: float, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
        pass

    def double_click(self, x: float, y: float) -> None:
        pass

    def key(self, key: int) -> bool:
        """Return True when the key was used (Enter closes a polygon, Escape cancels)."""
        return False

    def cancel(self) -> None:
        """Abandon an unfinished operation without touching the document."""
        if self.active:
            self.active = False
            self.ctl.cancel_preview()

    # --- drawing --------------------------------------------------------------------------------
    def radius(self) -> float | None:
        """Brush radius in image pixels, for the cursor circle (None: no circle)."""
        return None

    def paint(self, painter: QPainter, scale: float) -> None:
        """Feedback drawn in image coordinates (the painter already maps image -> widget)."""


def brush_radius(ctl) -> float:
    """The toolbar's brush size (a diameter in photo pixels) as a radius in painted-mask pixels."""
    doc = ctl.doc
    px = doc.photo_px if doc is not None else 1.0
    return max(ctl.brush_size / 2.0 / px, 0.5)


def centre(x: float, y: float) -> tuple[float, float]:
    """Continuous image point -> the pixel-centre coordinates engine.maskops expects."""
    return (x - 0.5, y - 0.5)
