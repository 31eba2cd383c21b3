"""Stroke tools: the label brush, the eraser and the colour stroke."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF

from editor.tools.base import Tool, brush_radius, centre
from engine import maskops
from engine.labels import DISPLAY_NAMES


class BrushTool(Tool):
    """Paints the current label with a round, hard-edged brush. One stroke = one undo step."""

    name = "brush"
    title = "Brush"
    short = "Brush"
    shortcut = "B"
    tip = "Paint the selected region's label (hard edge). [ and ] change the size."

    def __init__(self, ctl):
        super().__init__(ctl)
        self._base: np.ndarray | None = None
        self._work: np.ndarray | None = None
        self._last = (0.0, 0.0)

    def radius(self) -> float:
        return brush_radius(self.ctl)

    def stroke_label(self) -> str:
        return f"Paint {DISPLAY_NAMES[self.ctl.current_label]}"

    def _apply(self, work: np.ndarray, pts) -> np.ndarray:
        d = maskops.brush(work, pts, self.radius(), self.ctl.current_label)
        return work if d.empty else d.apply(work)

    def press(self, x, y, modifiers=Qt.KeyboardModifier.NoModifier):
        doc = self.ctl.doc
        if doc is None:
            return
        self.active = True
        self._base = doc.state.mask
        self._work = self._base.copy()
        self._last = centre(x, y)
        self._stamp([self._last])

    def move(self, x, y, modifiers=Qt.KeyboardModifier.NoModifier):
        if not self.active:
            return
        p = centre(x, y)
        self._stamp([self._last, p])
        self._last = p

    def _stamp(self, pts) -> None:
        new = self._apply(self._work, pts)
        if new is not self._work:
            self._work = new
            self.ctl.preview_mask(new)

    def release(self, x, y, modifiers=Qt.KeyboardModifier.NoModifier):
        if not self.active:
            return
        self.active = False
        self.ctl.commit_mask(maskops.replace(self._base, self._work), self.stroke_label())
        self._base = self._work = None


class EraserTool(BrushTool):
    """Paints background, or with ``restore`` on, puts back the label the parser found."""

    name = "eraser"
    title = "Eraser"
    short = "Eraser"
    shortcut = "E"
    tip = "Erase to background, or (with 'restore parsed') back to the parser's original labels."

    def __init__(self, ctl):
        super().__init__(ctl)
        self.restore = False

    def stroke_label(self) -> str:
        return "Restore parsed labels" if self.restore else "Erase"

    def _apply(self, work, pts):
        if not self.restore:
            d = maskops.brush(work, pts, self.radius(), 0)
            return work if d.empty else d.apply(work)
        zeros = np.zeros_like(work)
        stamp = maskops.brush(zeros, pts, self.radius(), 1).apply(zeros).astype(bool)
        parsed = self.ctl.doc.parsed_mask
        change = stamp & (work != parsed)
        if not change.any():
            return work
        out = work.copy()
        out[change] = parsed[change]
        return out


class ColorStrokeTool(Tool):
    """A stroke recolours the region under its start (a "color" override with the chosen colour)."""

    name = "color"
    title = "Colour stroke"
    short = "Colour"
    shortcut = "C"
    tip = "Stroke across a region to recolour it with the chosen colour."

    def __init__(self, ctl):
        super().__init__(ctl)
        self.color = QColor(150, 90, 60)
        self._region: int | None = None
        self._points: list[tuple[float, float]] = []

    def radius(self) -> float:
        return brush_radius(self.ctl)

    def press(self, x, y, modifiers=Qt.KeyboardModifier.NoModifier):
        doc = self.ctl.doc
        if doc is None:
            return
        self._region = doc.region_at(x, y)
        if self._region is None:
            return
        self.active = True
        self._points = [(x, y)]

    def move(self, x, y, modifiers=Qt.KeyboardModifier.NoModifier):
        if self.active:
            self._points.append((x, y))

    def release(self, x, y, modifiers=Qt.KeyboardModifier.NoModifier):
        if not self.active:
            return
        self.active = False
        self._points = []
        rgb = (self.color.red(), self.color.green(), self.color.blue())
        self.ctl.set_color(self._region, rgb)

    def cancel(self):
        self.active = False
        self._points = []

    def paint(self, painter: QPainter, scale: float) -> None:
        if not self.active or not self._points:
            return
        pen = QPen(self.color, 2 * self.radius())
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        painter.setOpacity(0.7)
        painter.drawPolyline(QPolygonF([QPointF(px, py) for px, py in self._points]))
        painter.setOpacity(1.0)
