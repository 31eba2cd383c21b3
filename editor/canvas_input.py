"""Mouse, keyboard and drag-and-drop handling of the canvas (mixed into editor.canvas.Canvas).

Left button: the current tool, in image coordinates. Space+drag or the middle button: pan. Wheel: zoom
around the cursor. In the split view the divider can be dragged. Gallery thumbnails dropped on a region
transfer its style (Shift: face swap+); photo files dropped on the canvas are opened.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt

from editor.dnd import REF_MIME, dropped_files, reference_path
from engine.labels import DISPLAY_NAMES, FACE_SWAP_CLASSES

DIVIDER_GRAB_PX = 8
WHEEL_STEP = 1.0015  # zoom factor per 1/8 degree of wheel rotation


class CanvasInput:
    """Event handlers; expects the Canvas attributes (view, tool, ctl, split, ...)."""

    # --- geometry ---------------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:
        self.view.resize(self.width(), self.height())
        super().resizeEvent(event)
        self._zoom_changed()

    def _near_divider(self, pos: QPointF) -> bool:
        if self.view.mode != "split" or self.ctl.doc is None:
            return False
        x, y, s, sh = self.view.image_rect(0)
        return abs(pos.x() - (x + self.split * s)) <= DIVIDER_GRAB_PX and y <= pos.y() <= y + sh

    def _update_cursor(self) -> None:
        if self._space or self._pan_from is not None:
            shape = Qt.CursorShape.ClosedHandCursor if self._pan_from else Qt.CursorShape.OpenHandCursor
        elif self._cursor is not None and (self._divider_drag or self._near_divider(self._cursor)):
            shape = Qt.CursorShape.SplitHCursor
        elif self.tool is not None and self.tool.radius():
            shape = Qt.CursorShape.BlankCursor if self.underMouse() else Qt.CursorShape.CrossCursor
        else:
            shape = self.tool.cursor if self.tool is not None else Qt.CursorShape.ArrowCursor
        self.setCursor(shape)

    # --- mouse & keys -----------------------------------------------------------------------------
    def mousePressEvent(self, e) -> None:
        pos = e.position()
        self.setFocus()
        if e.button() == Qt.MouseButton.MiddleButton or (
            e.button() == Qt.MouseButton.LeftButton and self._space
        ):
            self._pan_from = pos
        elif e.button() == Qt.MouseButton.LeftButton and self._near_divider(pos):
            self._divider_drag = True
        elif e.button() == Qt.MouseButton.LeftButton and self.tool is not None and self.ctl.doc is not None:
            self._tool_down = True
            self.tool.press(*self.widget_to_image(pos), e.modifiers())
        self._update_cursor()
        self.update()

    def mouseMoveEvent(self, e) -> None:
        pos = e.position()
        self._cursor = pos
        if self._pan_from is not None:
            d = pos - self._pan_from
            self._pan_from = pos
            self.view.pan(d.x(), d.y())
            self._zoom_changed()
        elif self._divider_drag:
            x, _, s, _ = self.view.image_rect(0)
            self.split = float(min(max((pos.x() - x) / s, 0.0), 1.0))
        elif self.tool is not None and self.ctl.doc is not None:
            self.tool.move(*self.widget_to_image(pos), e.modifiers())
        self._update_cursor()
        self.update()

    def mouseReleaseEvent(self, e) -> None:
        pos = e.position()
        if self._pan_from is not None and e.button() in (
            Qt.MouseButton.MiddleButton,
            Qt.MouseButton.LeftButton,
        ):
            self._pan_from = None
        elif self._divider_drag:
            self._divider_drag = False
        elif self._tool_down and e.button() == Qt.MouseButton.LeftButton:
            self._tool_down = False
            self.tool.release(*self.widget_to_image(pos), e.modifiers())
        self._update_cursor()
        self.update()

    def mouseDoubleClickEvent(self, e) -> None:
        if self.tool is not None and self.ctl.doc is not None and e.button() == Qt.MouseButton.LeftButton:
            self.tool.double_click(*self.widget_to_image(e.position()))
            self.update()

    def leaveEvent(self, e) -> None:
        self._cursor = None
        self.update()

    def wheelEvent(self, e) -> None:
        dy = e.angleDelta().y() or e.angleDelta().x()
        if dy and self.ctl.doc is not None:
            pos = e.position()
            self._zoom(WHEEL_STEP**dy, pos.x(), pos.y())
        e.accept()

    def keyPressEvent(self, e) -> None:
        if e.key() == Qt.Key.Key_Space:
            if not e.isAutoRepeat():
                self._space = True
                self._update_cursor()
            return
        if self.tool is not None and self.tool.key(e.key()):
            self.update()
            return
        super().keyPressEvent(e)

    def keyReleaseEvent(self, e) -> None:
        if e.key() == Qt.Key.Key_Space and not e.isAutoRepeat():
            self._space = False
            self._pan_from = None
            self._update_cursor()
            return
        super().keyReleaseEvent(e)

    # --- drag and drop ----------------------------------------------------------------------------
    def drop_target(self, pos: QPointF, modifiers) -> tuple[str, tuple[int, ...], str]:
        """What a reference dropped at ``pos`` would do: (action, regions, description)."""
        doc = self.ctl.doc
        if doc is None:
            return ("none", (), "")
        if modifiers & Qt.KeyboardModifier.ShiftModifier:
            return ("swap", FACE_SWAP_CLASSES, "Face swap+: take every face region and the hair")
        x, y = self.widget_to_image(pos)
        if not doc.contains(x, y):
            return ("none", (), "")
        pending = self.ctl.pending_free
        if pending is not None and pending[int(y), int(x)]:
            return ("free", (), "Stylise the outlined region")
        region = doc.region_at(x, y)
        return ("transfer", (region,), f"Transfer {DISPLAY_NAMES[region]} style  (Shift: face swap+)")

    def dragEnterEvent(self, e) -> None:
        md = e.mimeData()
        if md.hasFormat(REF_MIME) or dropped_files(md):
            e.acceptProposedAction()
        else:
            e.ignore()

    def dragMoveEvent(self, e) -> None:
        md = e.mimeData()
        self._cursor = None  # no brush circle while something is dragged over the canvas
        if md.hasFormat(REF_MIME):
            action, regions, text = self.drop_target(e.position(), e.modifiers())
            self.drop_regions, self.drop_text, self.drop_pos = regions, text, e.position()
            self.update()
            if action == "none":
                e.ignore()
                return
        e.acceptProposedAction()

    def dragLeaveEvent(self, e) -> None:
        self.clear_drop_hint()

    def clear_drop_hint(self) -> None:
        self.drop_regions, self.drop_text, self.drop_pos = (), "", None
        self.update()

    def dropEvent(self, e) -> None:
        md = e.mimeData()
        path = reference_path(md)
        self.clear_drop_hint()
        if path is None:
            files = dropped_files(md)
            if files:
                self.fileDropped.emit(files[0])
                e.acceptProposedAction()
            return
        action, regions, _ = self.drop_target(e.position(), e.modifiers())
        if action == "swap":
            self.ctl.face_swap(path)
        elif action == "free":
            self.ctl.free_region(path)
        elif action == "transfer":
            self.ctl.transfer(path, regions)
        else:
            e.ignore()
            return
        e.acceptProposedAction()
