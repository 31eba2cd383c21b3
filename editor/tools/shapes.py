"""Shape tools: flood fill, rectangle, polygon/lasso, free region and the region picker."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF

from editor.tools.base import Tool, centre
from engine import maskops
from engine.labels import COLORS, DISPLAY_NAMES

CLOSE_DISTANCE_PX = 8.0  # on screen: clicking this close to the first vertex closes a polygon


def _label_pen(ctl, scale: float) -> QPen:
    c = COLORS[ctl.current_label]
    pen = QPen(QColor(int(c[0]), int(c[1]), int(c[2])))
    pen.setCosmetic(True)
    pen.setWidthF(2.0)
    return pen


class FillTool(Tool):
    name = "fill"
    title = "Fill"
    short = "Fill"
    shortcut = "G"
    tip = "Fill the connected area under the click with the selected label."

    def press(self, x, y, modifiers=Qt.KeyboardModifier.NoModifier):
        doc = self.ctl.doc
        if doc is None or not doc.contains(x, y):
            return
        cx, cy = centre(x, y)
        delta = maskops.flood_fill(doc.state.mask, max(cx, 0), max(cy, 0), self.ctl.current_label)
        self.ctl.commit_mask(delta, f"Fill with {DISPLAY_NAMES[self.ctl.current_label]}")


class RectTool(Tool):
    name = "rect"
    title = "Rectangle"
    short = "Rect"
    shortcut = "R"
    tip = "Drag a rectangle of the selected label."

    def __init__(self, ctl):
        super().__init__(ctl)
        self._a = self._b = (0.0, 0.0)

    def press(self, x, y, modifiers=Qt.KeyboardModifier.NoModifier):
        if self.ctl.doc is None:
            return
        self.active = True
        self._a = self._b = (x, y)

    def move(self, x, y, modifiers=Qt.KeyboardModifier.NoModifier):
        if self.active:
            self._b = (x, y)

    def release(self, x, y, modifiers=Qt.KeyboardModifier.NoModifier):
        if not self.active:
            return
        self.active = False
        self._b = (x, y)
        (ax, ay), (bx, by) = self._a, self._b
        x0, x1 = sorted((ax, bx))
        y0, y1 = sorted((ay, by))
        # pixels whose centres lie inside the dragged box
        px0, py0, px1, py1 = np.ceil(x0 - 0.5), np.ceil(y0 - 0.5), np.floor(x1 - 0.5), np.floor(y1 - 0.5)
        if px0 > px1 or py0 > py1:
            return  # a click without a drag covers no pixel centre
        delta = maskops.rectangle(self.ctl.doc.state.mask, px0, py0, px1, py1, self.ctl.current_label)
        self.ctl.commit_mask(delta, f"Rectangle of {DISPLAY_NAMES[self.ctl.current_label]}")

    def cancel(self):
        self.active = False

    def paint(self, painter: QPainter, scale: float) -> None:
        if self.active:
            painter.setPen(_label_pen(self.ctl, scale))
            (ax, ay), (bx, by) = self._a, self._b
            painter.drawRect(QRectF(QPointF(ax, ay), QPointF(bx, by)).normalized())


class LassoTool(Tool):
    """Drag for a freehand lasso, or click vertices for a polygon (Enter, double-click or a click on
    the first vertex closes it; Escape cancels). The closed shape is filled with the current label."""

    name = "lasso"
    title = "Polygon / lasso"
    short = "Lasso"
    shortcut = "L"
    tip = "Drag a freehand outline, or click corners (Enter closes), to fill with the selected label."

    def __init__(self, ctl):
        super().__init__(ctl)
        self.points: list[tuple[float, float]] = []
        self._dragging = False
        self._moved = False
        self._hover: tuple[float, float] | None = None
        self._scale = 1.0

    def press(self, x, y, modifiers=Qt.KeyboardModifier.NoModifier):
        if self.ctl.doc is None:
            return
        if self.points and len(self.points) >= 3:
            fx, fy = self.points[0]
            if np.hypot(fx - x, fy - y) * self._scale <= CLOSE_DISTANCE_PX:
                self.finish()
                return
        self.active = True
        self._dragging = True
        self._moved = False
        self.points.append((x, y))

    def move(self, x, y, modifiers=Qt.KeyboardModifier.NoModifier):
        self._hover = (x, y)
        if self._dragging:
            lx, ly = self.points[-1]
            if np.hypot(lx - x, ly - y) * self._scale >= 2.0:
                self.points.append((x, y))
                self._moved = True

    def release(self, x, y, modifiers=Qt.KeyboardModifier.NoModifier):
        if not self._dragging:
            return
        self._dragging = False
        if self._moved and len(self.points) >= 3:
            self.finish()  # a freehand lasso closes itself on release

    def double_click(self, x, y):
        if len(self.points) >= 3:
            self.finish()

    def key(self, key: int) -> bool:
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and len(self.points) >= 3:
            self.finish()
            return True
        if key == Qt.Key.Key_Escape and self.points:
            self.cancel()
            return True
        return False

    def cancel(self):
        self.points = []
        self.active = self._dragging = False

    def finish(self) -> None:
        pts = [centre(x, y) for x, y in self.points]
        self.points = []
        self.active = self._dragging = False
        if len(pts) >= 3:
            self.closed(pts)

    def closed(self, pts) -> None:
        doc = self.ctl.doc
        delta = maskops.polygon(doc.state.mask, pts, self.ctl.current_label)
        self.ctl.commit_mask(delta, f"Polygon of {DISPLAY_NAMES[self.ctl.current_label]}")

    def outline_pen(self, scale: float) -> QPen:
        return _label_pen(self.ctl, scale)

    def paint(self, painter: QPainter, scale: float) -> None:
        self._scale = scale
        if not self.points:
            return
        painter.setPen(self.outline_pen(scale))
        pts = [QPointF(x, y) for x, y in self.points]
        if self._hover is not None and not self._dragging:
            pts.append(QPointF(*self._hover))
        painter.drawPolyline(QPolygonF(pts))
        painter.drawEllipse(QPointF(*self.points[0]), 3 / scale, 3 / scale)


class FreeRegionTool(LassoTool):
    """Outline a region regardless of labels; then drop a reference on it to stylise just that area."""

    name = "free"
    title = "Free region"
    short = "Free region"
    shortcut = "F"
    tip = "Outline any area (labels ignored), then drag a gallery reference into it."

    def closed(self, pts) -> None:
        doc = self.ctl.doc
        zeros = np.zeros_like(doc.state.mask)
        region = maskops.polygon(zeros, pts, 1).apply(zeros).astype(bool)
        if region.any():
            self.ctl.set_pending_free_region(region)

    def outline_pen(self, scale: float) -> QPen:
        pen = QPen(QColor(255, 255, 255))
        pen.setCosmetic(True)
        pen.setWidthF(2.0)
        pen.setStyle(Qt.PenStyle.DashLine)
        return pen


class PickTool(Tool):
    name = "pick"
    title = "Pick region"
    short = "Pick"
    shortcut = "I"
    tip = "Click a region to select it (its label and its style controls)."
    cursor = Qt.CursorShape.PointingHandCursor

    def press(self, x, y, modifiers=Qt.KeyboardModifier.NoModifier):
        doc = self.ctl.doc
        region = doc.region_at(x, y) if doc is not None else None
        if region is not None:
            self.ctl.select_region(region)
